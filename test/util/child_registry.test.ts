// The daemon's children are recorded while they run; the next daemon on the same data folder
// kills the ones a killed daemon left behind, and never a process that merely reuses a pid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChildRegistry, processIdentity } from '../../companion/util/child_registry.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-children-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const posix = process.platform !== 'win32';

test('a recorded child left running is killed with its process group by the next registry; its record goes', { skip: !posix && 'process groups' }, async (t) => {
  const dir = path.join(tempDir(t), 'children');
  const first = new ChildRegistry(dir);
  // A child with a child of its own, as a shell or a tool spawning helpers would have.
  const child = spawn('/bin/sh', ['-c', 'sleep 60 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const grandchild = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  first.track(child, '/bin/sh');
  assert.deepEqual(fs.readdirSync(dir), [`${child.pid}.json`]);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

  // The daemon that owned `first` died without a word; the next one starts.
  const killed = new ChildRegistry(dir).killLeftovers();
  assert.deepEqual(killed, [`sh (pid ${child.pid})`]);
  assert.equal(await exited, 'SIGKILL');
  assert.deepEqual(fs.readdirSync(dir), []);
  // The whole group: the grandchild too is gone (or a zombie waiting for init to reap it).
  await new Promise((r) => setTimeout(r, 100));
  if (process.platform === 'linux') {
    const stat = fs.existsSync(`/proc/${grandchild}/stat`) ? fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8') : null;
    assert.ok(stat === null || stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z', stat ?? '');
  }
});

test('a record whose pid now belongs to another process (another start time) is dropped, the process left alone', { skip: !posix && 'process groups' }, (t) => {
  const dir = path.join(tempDir(t), 'children');
  fs.mkdirSync(dir);
  assert.ok(processIdentity(process.pid));
  fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, command: 'ffmpeg', identity: 'another boot/123' }));
  fs.writeFileSync(path.join(dir, 'torn.json'), '{"pid": 12');
  assert.deepEqual(new ChildRegistry(dir).killLeftovers(), []);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a child that exits on its own takes its record with it', { skip: !posix && 'process groups' }, async (t) => {
  const dir = path.join(tempDir(t), 'children');
  const registry = new ChildRegistry(dir);
  const child = spawn('/bin/sh', ['-c', 'exit 0'], { detached: true, stdio: 'ignore' });
  registry.track(child, '/bin/sh');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a record that cannot be written (full data disk) leaves the child running and its spawn working', { skip: !posix && 'process groups' }, async (t) => {
  const dir = path.join(tempDir(t), 'children');
  const registry = new ChildRegistry(dir);
  // Writes into the registry fail from now on (ENOTDIR stands in for ENOSPC: both are a failed write).
  fs.rmSync(dir, { recursive: true });
  fs.writeFileSync(dir, '');
  const child = spawn('/bin/sh', ['-c', 'exit 3'], { detached: true, stdio: 'ignore' });
  assert.doesNotThrow(() => registry.track(child, '/bin/sh'));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 3);
});
