// companion/config.ts: per-platform folders, TOKENFLOW_* overrides, port parsing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_PORT, parsePort, portFromEnv, precisionFromEnv, providersFromEnv, resolveFolders } from '../companion/config.ts';

function tempHome(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('Linux: XDG folders; renders in ~/Videos when it exists, else in the data folder', (t) => {
  const home = tempHome(t);
  assert.deepEqual(resolveFolders({}, 'linux', home), {
    configDir: path.join(home, '.config', 'tokenflow'),
    dataDir: path.join(home, '.local', 'share', 'tokenflow'),
    outputDir: path.join(home, '.local', 'share', 'tokenflow', 'renders'),
  });
  fs.mkdirSync(path.join(home, 'Videos'));
  assert.equal(resolveFolders({}, 'linux', home).outputDir, path.join(home, 'Videos', 'TokenFlow Renders'));
  const xdg = resolveFolders({ XDG_CONFIG_HOME: '/x/conf', XDG_DATA_HOME: '/x/data' }, 'linux', home);
  assert.equal(xdg.configDir, path.join('/x/conf', 'tokenflow'));
  assert.equal(xdg.dataDir, path.join('/x/data', 'tokenflow'));
  // Relative XDG values are invalid per the spec and ignored.
  assert.equal(resolveFolders({ XDG_CONFIG_HOME: 'rel' }, 'linux', home).configDir, path.join(home, '.config', 'tokenflow'));
});

test('macOS and Windows folders', () => {
  const mac = resolveFolders({}, 'darwin', '/Users/ana');
  assert.equal(mac.configDir, path.join('/Users/ana', 'Library', 'Application Support', 'TokenFlow'));
  assert.equal(mac.dataDir, mac.configDir);
  assert.equal(mac.outputDir, path.join('/Users/ana', 'Movies', 'TokenFlow Renders'));
  const win = resolveFolders({ APPDATA: '/w/Roaming', LOCALAPPDATA: '/w/Local' }, 'win32', '/w/home');
  assert.equal(win.configDir, path.join('/w/Roaming', 'TokenFlow'));
  assert.equal(win.dataDir, path.join('/w/Local', 'TokenFlow'));
  assert.equal(win.outputDir, path.join('/w/home', 'Videos', 'TokenFlow Renders'));
});

test('TOKENFLOW_HOME puts everything under one folder; TOKENFLOW_OUTPUT_DIR moves the renders', () => {
  for (const platform of ['linux', 'darwin', 'win32'] as const) {
    assert.deepEqual(resolveFolders({ TOKENFLOW_HOME: '/tf' }, platform, '/home/x'), {
      configDir: path.resolve('/tf', 'config'),
      dataDir: path.resolve('/tf', 'data'),
      outputDir: path.resolve('/tf', 'renders'),
    });
  }
  assert.equal(resolveFolders({ TOKENFLOW_HOME: '/tf', TOKENFLOW_OUTPUT_DIR: '/out' }, 'linux', '/h').outputDir, path.resolve('/out'));
  assert.equal(resolveFolders({ TOKENFLOW_HOME: '  ' }, 'darwin', '/h').configDir, path.join('/h', 'Library', 'Application Support', 'TokenFlow'));
});

test('ports: default, TOKENFLOW_PORT, and invalid values', () => {
  assert.equal(portFromEnv({}), DEFAULT_PORT);
  assert.equal(DEFAULT_PORT, 43117);
  assert.equal(portFromEnv({ TOKENFLOW_PORT: '8123' }), 8123);
  assert.throws(() => portFromEnv({ TOKENFLOW_PORT: 'http' }), /TOKENFLOW_PORT must be an integer/);
  assert.equal(parsePort('0'), 0);
  assert.equal(parsePort('65535'), 65535);
  for (const bad of ['65536', '-1', '1.5', '', ' 80', '0x50', '123456']) assert.equal(parsePort(bad), undefined, bad);
});

test('TOKENFLOW_PROVIDERS is a comma list tried in order; TOKENFLOW_PRECISION float32 or float16', () => {
  assert.equal(providersFromEnv({}), undefined);
  assert.equal(providersFromEnv({ TOKENFLOW_PROVIDERS: ' ' }), undefined);
  assert.deepEqual(providersFromEnv({ TOKENFLOW_PROVIDERS: 'webgpu,cpu' }), ['webgpu', 'cpu']);
  assert.deepEqual(providersFromEnv({ TOKENFLOW_PROVIDERS: 'CUDA, webgpu ,cpu,cpu' }), ['cuda', 'webgpu', 'cpu']);
  assert.throws(() => providersFromEnv({ TOKENFLOW_PROVIDERS: 'vulkan,cpu' }), /TOKENFLOW_PROVIDERS: unknown execution provider "vulkan" \(one of cuda, dml, coreml, webgpu, cpu\)/);
  assert.throws(() => providersFromEnv({ TOKENFLOW_PROVIDERS: ',' }), /TOKENFLOW_PROVIDERS names no execution provider/);
  assert.equal(precisionFromEnv({}), undefined);
  assert.equal(precisionFromEnv({ TOKENFLOW_PRECISION: 'float16' }), 'float16');
  assert.throws(() => precisionFromEnv({ TOKENFLOW_PRECISION: 'half' }), /TOKENFLOW_PRECISION must be float32 or float16, got "half"/);
});
