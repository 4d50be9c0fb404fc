// Which daemon `tokenflow jobs` talks to, and with which token: the flag, else TOKENFLOW_URL,
// else the running daemon's discovery file, else TOKENFLOW_PORT (or the default port).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { localDaemonClient } from '../../companion/cli/local_daemon.ts';
import { resolveFolders } from '../../companion/config.ts';
import { writeDaemonFile } from '../../companion/server/discovery.ts';
import { loadOrCreateToken, tokenPath } from '../../companion/server/token.ts';

function tempHome(t: { after(fn: () => void): void }): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-local-daemon-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  return home;
}

test('no token yet: says which file is missing and how to make it', async (t) => {
  const home = tempHome(t);
  const configDir = resolveFolders({ TOKENFLOW_HOME: home }).configDir;
  await assert.rejects(
    localDaemonClient(undefined, { TOKENFLOW_HOME: home }),
    new Error(`no token at ${tokenPath(configDir)}: no TokenFlow daemon has run with this configuration; start one with \`tokenflow serve\``),
  );
});

test('the address: flag, then TOKENFLOW_URL, then the discovery file, then the port', async (t) => {
  const home = tempHome(t);
  const { configDir, dataDir } = resolveFolders({ TOKENFLOW_HOME: home });
  await loadOrCreateToken(configDir);
  const env = { TOKENFLOW_HOME: home, TOKENFLOW_PORT: '45001' };
  assert.equal((await localDaemonClient(undefined, env)).baseUrl, 'http://127.0.0.1:45001');
  assert.equal((await localDaemonClient(undefined, { TOKENFLOW_HOME: home })).baseUrl, 'http://127.0.0.1:43117');
  await writeDaemonFile(dataDir, { pid: process.pid, url: 'http://127.0.0.1:45002', version: 'test', started_at: new Date().toISOString() });
  assert.equal((await localDaemonClient(undefined, env)).baseUrl, 'http://127.0.0.1:45002');
  assert.equal((await localDaemonClient(undefined, { ...env, TOKENFLOW_URL: 'http://127.0.0.1:45003/' })).baseUrl, 'http://127.0.0.1:45003');
  assert.equal((await localDaemonClient('http://127.0.0.1:45004', { ...env, TOKENFLOW_URL: 'http://127.0.0.1:45003' })).baseUrl, 'http://127.0.0.1:45004');
  // An empty TOKENFLOW_URL counts as unset; a bad TOKENFLOW_PORT matters only when it is used.
  assert.equal((await localDaemonClient(undefined, { ...env, TOKENFLOW_URL: ' ' })).baseUrl, 'http://127.0.0.1:45002');
  assert.equal((await localDaemonClient('http://127.0.0.1:45004', { TOKENFLOW_HOME: home, TOKENFLOW_PORT: 'x' })).baseUrl, 'http://127.0.0.1:45004');
});

test('an address that is not a URL is refused by name', async (t) => {
  const home = tempHome(t);
  await loadOrCreateToken(resolveFolders({ TOKENFLOW_HOME: home }).configDir);
  await assert.rejects(
    localDaemonClient('127.0.0.1:43117', { TOKENFLOW_HOME: home }),
    new Error('daemon URL "127.0.0.1:43117" is not a URL (expected e.g. http://127.0.0.1:43117)'),
  );
});
