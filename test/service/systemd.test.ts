import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { systemdQuote, unitFile, unitPath } from '../../companion/service/systemd.ts';
import { awkwardSpec } from './helpers.ts';

test('the unit goes to the XDG config folder (an absolute XDG_CONFIG_HOME, else ~/.config)', () => {
  assert.equal(unitPath('/home/ed', undefined), '/home/ed/.config/systemd/user/tokenflow.service');
  assert.equal(unitPath('/home/ed', '/cfg'), '/cfg/systemd/user/tokenflow.service');
  assert.equal(unitPath('/home/ed', 'relative'), '/home/ed/.config/systemd/user/tokenflow.service');
});

test('words are quoted with systemd escapes for quotes, backslashes, % and $', () => {
  assert.equal(systemdQuote('/a b/node'), '"/a b/node"');
  assert.equal(systemdQuote('say "hi" \\ 100% $HOME'), '"say \\"hi\\" \\\\ 100%% $$HOME"');
});

test('the unit runs serve with the settings, restarts on failure and logs to the data folder', () => {
  const unit = unitFile(awkwardSpec());
  const lines = unit.split('\n');
  assert.ok(lines.includes('ExecStart="/opt/tokenflow companion/runtime/node" "/opt/tokenflow companion/lib/tokenflow.mjs" "serve"'));
  assert.ok(lines.includes('Environment="TOKENFLOW_PORT=43200"'));
  assert.ok(lines.includes('Environment="TOKENFLOW_HOME=/home/ed/My \\"Data\\" 100%% $$x & <y>"'));
  assert.ok(lines.includes('StandardOutput=append:/home/ed/My "Data" 100%% $x & <y>/service.log'));
  assert.ok(lines.includes('StandardError=append:/home/ed/My "Data" 100%% $x & <y>/service.log'));
  assert.ok(lines.includes('WorkingDirectory=/home/ed/My "Data" 100%% $x & <y>'));
  assert.ok(lines.includes('Restart=on-failure'));
  assert.ok(lines.includes('WantedBy=default.target'));
});

const analyze = (() => {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('systemd itself accepts the unit (systemd-analyze verify)', { skip: !analyze && 'systemd-analyze is not installed' }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-unit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const runtime = path.join(dir, 'runtime');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const data = path.join(dir, 'data 100%');
  fs.mkdirSync(data);
  const spec = { ...awkwardSpec(data), command: [process.execPath, path.join(dir, 'tokenflow.mjs'), 'serve'] };
  const file = path.join(dir, 'tokenflow.service');
  fs.writeFileSync(file, unitFile(spec));
  // verify needs a runtime folder for its --user manager; it checks syntax and that ExecStart exists.
  const out = execFileSync('systemd-analyze', ['verify', '--user', file], { env: { ...process.env, XDG_RUNTIME_DIR: runtime }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(out, '');
});
