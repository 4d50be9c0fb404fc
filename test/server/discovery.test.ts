// companion/server/discovery.ts: the running daemon's address file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { daemonFilePath, readDaemonFile, removeDaemonFile, writeDaemonFile } from '../../companion/server/discovery.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-discovery-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const info = (pid: number) => ({ pid, url: 'http://127.0.0.1:43117', version: '1.0.0', started_at: new Date().toISOString() });

test('written owner-only, read back while the process lives', async (t) => {
  const dataDir = tempDir(t);
  const written = info(process.pid);
  await writeDaemonFile(dataDir, written);
  assert.deepEqual(await readDaemonFile(dataDir), written);
  if (process.platform !== 'win32') assert.equal(fs.statSync(daemonFilePath(dataDir)).mode & 0o777, 0o600);
});

test('a file left by a dead daemon (kill -9) is ignored', async (t) => {
  const dataDir = tempDir(t);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  await writeDaemonFile(dataDir, info(Number(dead)));
  assert.equal(await readDaemonFile(dataDir), undefined);
});

test('garbage is ignored; removal leaves a newer daemon\'s file alone', async (t) => {
  const dataDir = tempDir(t);
  fs.writeFileSync(daemonFilePath(dataDir), '{not json');
  assert.equal(await readDaemonFile(dataDir), undefined);
  await writeDaemonFile(dataDir, info(process.pid));
  await removeDaemonFile(dataDir, process.pid + 1);
  assert.ok(fs.existsSync(daemonFilePath(dataDir)));
  await removeDaemonFile(dataDir, process.pid);
  assert.ok(!fs.existsSync(daemonFilePath(dataDir)));
});
