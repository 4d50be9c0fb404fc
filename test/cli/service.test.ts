// `tokenflow service` against a recording runner: the files land where each platform's
// service manager looks, the manager is asked in the right order, and status says what is
// there. (This container has no systemd user session, so nothing is registered for real;
// test/service/systemd.test.ts has systemd itself check the unit.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runService } from '../../companion/cli/service.ts';
import type { Runner } from '../../companion/service/manager.ts';
import { tempDir } from '../helpers/cli.ts';

function recorder(fail?: string): { run: Runner; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (command) => {
      calls.push(command.join(' '));
      return command.includes(fail ?? '\0') ? { code: 1, output: 'Failed to connect to bus' } : { code: 0, output: '' };
    },
  };
}

async function quietly<T>(fn: () => Promise<T>): Promise<{ result: T; out: string }> {
  const log = console.log;
  const error = console.error;
  let out = '';
  console.log = (...a: unknown[]) => void (out += `${a.join(' ')}\n`);
  console.error = console.log;
  try {
    return { result: await fn(), out };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('Linux: install writes the user unit and enables it; uninstall disables and removes it', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { TOKENFLOW_HOME: path.join(home, 'tf'), XDG_CONFIG_HOME: path.join(home, 'cfg'), TOKENFLOW_PORT: '43999', HF_TOKEN: 'hf_secret' };
  const unit = path.join(home, 'cfg', 'systemd', 'user', 'tokenflow.service');
  const r = recorder();
  const installed = await quietly(() => runService('install', { run: r.run, env, platform: 'linux', home }));
  assert.equal(installed.result, 0);
  assert.deepEqual(r.calls, ['systemctl --user daemon-reload', 'systemctl --user enable tokenflow.service', 'systemctl --user restart tokenflow.service']);
  const text = fs.readFileSync(unit, 'utf8');
  assert.match(text, new RegExp(`^ExecStart="${process.execPath}" ".*/bin/tokenflow\\.mjs" "serve"$`, 'm'));
  assert.match(text, /^Environment="TOKENFLOW_PORT=43999"$/m);
  assert.doesNotMatch(text, /hf_secret/);
  assert.match(text, new RegExp(`^StandardOutput=append:${path.join(home, 'tf', 'data', 'service.log')}$`, 'm'));
  assert.match(installed.out, new RegExp(`installed \\(systemd user unit\\): ${unit}`));

  const status = await quietly(() => runService('status', { run: r.run, env, platform: 'linux', home }));
  assert.equal(status.result, 1, 'no daemon is running');
  assert.match(status.out, /service: {2}installed \(systemd user unit\)/);
  assert.match(status.out, /manager: {2}registered/);
  assert.match(status.out, /daemon: {3}not running/);

  r.calls.length = 0;
  const removed = await quietly(() => runService('uninstall', { run: r.run, env, platform: 'linux', home }));
  assert.equal(removed.result, 0);
  assert.deepEqual(r.calls, ['systemctl --user disable --now tokenflow.service', 'systemctl --user daemon-reload']);
  assert.equal(fs.existsSync(unit), false);
  assert.match(removed.out, /removed the service/);
});

test('macOS: a re-install unloads the earlier agent first; its refusal when none is loaded is ignored', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const r = recorder('bootout');
  assert.equal((await quietly(() => runService('install', { run: r.run, env: { TOKENFLOW_HOME: path.join(home, 'tf') }, platform: 'darwin', home }))).result, 0);
  assert.equal(r.calls.length, 2);
});

test('a service manager that refuses is reported with its own words', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { TOKENFLOW_HOME: path.join(home, 'tf'), XDG_CONFIG_HOME: path.join(home, 'cfg') };
  const r = recorder('daemon-reload');
  await assert.rejects(
    quietly(() => runService('install', { run: r.run, env, platform: 'linux', home })),
    /systemctl --user daemon-reload failed \(exit 1\): Failed to connect to bus; .*tokenflow\.service is written, but the service is not registered/,
  );
});

test('macOS: the LaunchAgent goes to ~/Library/LaunchAgents and is bootstrapped into the GUI session', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { TOKENFLOW_HOME: path.join(home, 'tf') };
  const r = recorder();
  await quietly(() => runService('install', { run: r.run, env, platform: 'darwin', home }));
  const plist = path.join(home, 'Library', 'LaunchAgents', 'org.tokenflow.companion.plist');
  assert.match(fs.readFileSync(plist, 'utf8'), /<key>RunAtLoad<\/key><true\/>/);
  assert.deepEqual(r.calls, [`launchctl bootout gui/${process.getuid!()}/org.tokenflow.companion`, `launchctl bootstrap gui/${process.getuid!()} ${plist}`]);
});

test('Windows: the launch script goes to the data folder and the Run value points at it', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { TOKENFLOW_HOME: path.join(home, 'tf') };
  const r = recorder();
  await quietly(() => runService('install', { run: r.run, env, platform: 'win32', home }));
  const script = path.join(home, 'tf', 'data', 'tokenflow-service.vbs');
  assert.match(fs.readFileSync(script, 'utf8'), /shell\.Run "cmd \/c /);
  assert.equal(r.calls[0], `reg add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v TokenFlow /t REG_SZ /d wscript.exe //B //Nologo "${script}" /f`);
  assert.equal(r.calls[1], `wscript.exe //B //Nologo ${script}`);
});

test('Linux: a queue address with a password: install is refused before anything is written or registered; status and uninstall still run', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { TOKENFLOW_HOME: path.join(home, 'tf'), XDG_CONFIG_HOME: path.join(home, 'cfg'), TOKENFLOW_QUEUE: 'redis://render:s3cret@farm.lan:6379/0' };
  const unit = path.join(home, 'cfg', 'systemd', 'user', 'tokenflow.service');
  const r = recorder();
  await assert.rejects(quietly(() => runService('install', { run: r.run, env, platform: 'linux', home })), /TOKENFLOW_QUEUE holds a password.*set TOKENFLOW_QUEUE to the address without the password and TOKENFLOW_QUEUE_PASSWORD/);
  assert.deepEqual(r.calls, []);
  assert.equal(fs.existsSync(unit), false);
  assert.equal((await quietly(() => runService('status', { run: r.run, env, platform: 'linux', home }))).result, 1);
  assert.equal((await quietly(() => runService('uninstall', { run: r.run, env, platform: 'linux', home }))).result, 0);
});

test('Linux: TOKENFLOW_QUEUE_PASSWORD is kept owner-only in the config folder, never in the unit or the output; uninstall removes it', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { TOKENFLOW_HOME: path.join(home, 'tf'), XDG_CONFIG_HOME: path.join(home, 'cfg'), TOKENFLOW_QUEUE: 'redis://farm.lan:6379/0', TOKENFLOW_QUEUE_PASSWORD: 's3cret' };
  const secret = path.join(home, 'tf', 'config', 'queue-password');
  fs.mkdirSync(path.dirname(secret), { recursive: true });
  fs.writeFileSync(secret, 'old', { mode: 0o644 });
  const r = recorder();
  const installed = await quietly(() => runService('install', { run: r.run, env, platform: 'linux', home }));
  assert.equal(fs.readFileSync(secret, 'utf8'), 's3cret');
  assert.equal(fs.statSync(secret).mode & 0o777, 0o600, 'an earlier, looser file is replaced');
  assert.equal(fs.statSync(path.dirname(secret)).mode & 0o777, 0o700);
  const unit = fs.readFileSync(path.join(home, 'cfg', 'systemd', 'user', 'tokenflow.service'), 'utf8');
  assert.match(unit, /^Environment="TOKENFLOW_QUEUE=redis:\/\/farm\.lan:6379\/0"$/m);
  assert.doesNotMatch(unit, /s3cret|QUEUE_PASSWORD/);
  assert.match(installed.out, new RegExp(`the queue password is kept in ${secret}, readable by you only`));
  assert.doesNotMatch(installed.out, /s3cret/);

  await quietly(() => runService('uninstall', { run: r.run, env, platform: 'linux', home }));
  assert.equal(fs.existsSync(secret), false);
});

test('a re-install from a shell without TOKENFLOW_QUEUE_PASSWORD removes the kept one', async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { TOKENFLOW_HOME: path.join(home, 'tf'), XDG_CONFIG_HOME: path.join(home, 'cfg') };
  const secret = path.join(home, 'tf', 'config', 'queue-password');
  const r = recorder();
  await quietly(() => runService('install', { run: r.run, env: { ...env, TOKENFLOW_QUEUE_PASSWORD: 's3cret' }, platform: 'linux', home }));
  assert.equal(fs.existsSync(secret), true);
  const again = await quietly(() => runService('install', { run: r.run, env, platform: 'linux', home }));
  assert.equal(fs.existsSync(secret), false);
  assert.match(again.out, new RegExp(`TOKENFLOW_QUEUE_PASSWORD is not set, so the queue password the earlier install kept is removed \\(${secret}\\)`));
  assert.doesNotMatch(again.out, /s3cret/);
});

test("Windows: the queue password goes to the user's own %APPDATA%\\TokenFlow, not beside the launch script", async (t) => {
  const home = tempDir(t, 'tf-svc-');
  const env = { APPDATA: path.join(home, 'Roaming'), LOCALAPPDATA: path.join(home, 'Local'), TOKENFLOW_QUEUE_PASSWORD: 's3cret' };
  const r = recorder();
  await quietly(() => runService('install', { run: r.run, env, platform: 'win32', home }));
  assert.equal(fs.readFileSync(path.join(home, 'Roaming', 'TokenFlow', 'queue-password'), 'utf8'), 's3cret');
  assert.doesNotMatch(fs.readFileSync(path.join(home, 'Local', 'TokenFlow', 'tokenflow-service.vbs'), 'utf8'), /s3cret/);
  await quietly(() => runService('uninstall', { run: r.run, env, platform: 'win32', home }));
  assert.equal(fs.existsSync(path.join(home, 'Roaming', 'TokenFlow', 'queue-password')), false);
});
