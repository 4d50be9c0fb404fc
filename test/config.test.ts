// companion/config.ts: per-platform folders, TOKENFLOW_* overrides, port parsing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  debugFromEnv, DEFAULT_PORT, hubEnv, inversionCacheBytesFromEnv, mediaBinariesFromEnv, modelFromEnv, parsePort, portFromEnv,
  precisionFromEnv, providersFromEnv, queueFromEnv, queuePasswordPath, resolveFolders,
} from '../companion/config.ts';

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

test('TOKENFLOW_MODEL, TOKENFLOW_DEBUG, TOKENFLOW_INVERSION_CACHE_GB, TOKENFLOW_FFMPEG/FFPROBE and the HF_* variables', () => {
  assert.equal(modelFromEnv({ TOKENFLOW_MODEL: ' org/name ' }), 'org/name');
  assert.equal(modelFromEnv({ TOKENFLOW_MODEL: '  ' }), undefined);
  assert.equal(debugFromEnv({ TOKENFLOW_DEBUG: '1' }), true);
  assert.equal(debugFromEnv({ TOKENFLOW_DEBUG: 'yes' }), false);
  assert.equal(inversionCacheBytesFromEnv({}), undefined);
  assert.equal(inversionCacheBytesFromEnv({ TOKENFLOW_INVERSION_CACHE_GB: '0.5' }), 512 * 1024 ** 2);
  assert.throws(() => inversionCacheBytesFromEnv({ TOKENFLOW_INVERSION_CACHE_GB: '-1' }), /TOKENFLOW_INVERSION_CACHE_GB must be a number of gigabytes >= 0, got "-1"/);
  assert.deepEqual(mediaBinariesFromEnv({ TOKENFLOW_FFMPEG: ' /opt/ffmpeg ', TOKENFLOW_FFPROBE: '' }), { ffmpeg: '/opt/ffmpeg', ffprobe: undefined });
  assert.deepEqual(hubEnv({ HUGGING_FACE_HUB_TOKEN: 't', HF_HUB_OFFLINE: 'TRUE', HUGGINGFACE_HUB_CACHE: '/c', XDG_CACHE_HOME: '/x' }), {
    endpoint: undefined, token: 't', offline: true, hubCache: '/c', hfHome: undefined, xdgCache: '/x',
  });
  assert.equal(hubEnv({ HF_TOKEN: 'a', HUGGING_FACE_HUB_TOKEN: 'b' }).token, 'a');
});

/**
 * Files outside config.ts that may index an environment: each passes variables on unchanged
 * (no setting is interpreted there).
 */
const ENV_PASS_THROUGH: Record<string, string> = {
  'companion/service/spec.ts': 'copies the TOKENFLOW_* variables the user set into the login service definition',
};

test('settings are read from the environment only in companion/config.ts', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const offenders: string[] = [];
  const visit = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) visit(rel);
      else if (entry.name.endsWith('.ts') && rel !== 'companion/config.ts') {
        fs.readFileSync(path.join(root, rel), 'utf8').split('\n').forEach((line, i) => {
          const indexed = /\benv\[/.test(line) && !(rel in ENV_PASS_THROUGH);
          if (/process\.env\b/.test(line) || /\benv\.[A-Z][A-Z0-9_]*\b/.test(line) || indexed) offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
      }
    }
  };
  for (const dir of ['companion', 'shared']) visit(dir);
  assert.deepEqual(offenders, []);
});

test("README's Configuration section names every variable companion/config.ts reads", () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const config = fs.readFileSync(path.join(root, 'companion', 'config.ts'), 'utf8');
  const read = [...new Set([...config.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!))];
  assert.ok(read.length > 20, `found ${read.length} variables`);
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Configuration'), readme.indexOf('\n### ', readme.indexOf('### Configuration') + 1));
  assert.deepEqual(read.filter((name) => !section.includes(`\`${name}`) && !section.includes(`$${name}`) && !section.includes(`%${name}%`)), []);
});

test("the queue password: TOKENFLOW_QUEUE_PASSWORD wins, else the config folder's queue-password file (the service's)", (t) => {
  const configDir = tempHome(t);
  const url = 'redis://farm.lan:6379/0';
  assert.deepEqual(queueFromEnv({ TOKENFLOW_QUEUE: url }, configDir), { url, password: undefined }, 'no file, no variable');
  fs.writeFileSync(queuePasswordPath(configDir), 'from file\n');
  assert.equal(queuePasswordPath(configDir), path.join(configDir, 'queue-password'));
  assert.deepEqual(queueFromEnv({ TOKENFLOW_QUEUE: url }, configDir), { url, password: 'from file' }, 'the line end is not part of it');
  assert.equal(queueFromEnv({ TOKENFLOW_QUEUE_PASSWORD: 'from env' }, configDir).password, 'from env');
  assert.equal(queueFromEnv({}).password, undefined, 'without the config folder the file is not read');
  fs.writeFileSync(queuePasswordPath(configDir), '\n');
  assert.equal(queueFromEnv({}, configDir).password, undefined, 'an empty file is no password');
});
