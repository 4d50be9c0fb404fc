// The parent-death watch: a process killed with -9 takes its children (and the temporary
// folders it named) with it at once, without waiting for a restart; a child that already
// exited, or a process that merely has a listed pid, is never hit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childNodeArgs } from '../../companion/layout.ts';
import { processIdentity } from '../../companion/util/child_registry.ts';
import { until } from '../helpers/served_daemon.ts';

const HELPER = path.join(import.meta.dirname, '..', 'helpers', 'child_watch_parent.ts');
const posix = process.platform !== 'win32';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) is gone for every purpose here.
  const identity = processIdentity(pid);
  if (process.platform !== 'linux') return identity !== null;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

function killQuietly(pid: number | undefined): void {
  try {
    if (pid) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function sleeper(t: { after(fn: () => void): void }): ChildProcess {
  const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  t.after(() => killQuietly(child.pid));
  return child;
}

/** Runs the watcher process itself with `lines` on its stdin, then closes it (the parent's death). */
async function watcherSees(lines: string[]): Promise<number | null> {
  const watcher = spawn(process.execPath, childNodeArgs('child_watch'), { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => watcher.once('exit', (code) => resolve(code)));
  watcher.stdin!.end(lines.map((l) => `${l}\n`).join(''));
  return exited;
}

test('kill -9 of the parent: its child and the folder it named are gone within seconds, and the watcher exits', { skip: !posix && 'the system does it on Windows' }, async (t) => {
  const folder = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tf-watch-')), 'work');
  t.after(() => fs.rmSync(path.dirname(folder), { recursive: true, force: true }));
  const parent = spawn(process.execPath, ['--import', 'tsx', HELPER, folder], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => killQuietly(parent.pid));
  const line = await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(String(d))));
  const { child, watcher } = JSON.parse(line) as { child: number; watcher: number };
  t.after(() => [child, watcher].forEach(killQuietly));
  assert.ok(alive(child) && alive(watcher) && fs.existsSync(folder));

  parent.kill('SIGKILL');
  await until(() => !alive(child) && !alive(watcher), 20_000, 'the child and the watcher to end');
  assert.equal(fs.existsSync(folder), false, 'the folder named to the watch was left behind');
});

test('the watcher kills only the listed children still running, and leaves the rest', { skip: !posix && 'process groups' }, async (t) => {
  const listed = sleeper(t);
  const exitedBefore = sleeper(t);
  const samePidOtherProcess = sleeper(t);
  const listedDead = new Promise<NodeJS.Signals | null>((resolve) => listed.once('exit', (_c, signal) => resolve(signal)));
  const code = await watcherSees([
    `+${listed.pid} ${processIdentity(listed.pid!)}`,
    `+${exitedBefore.pid} ${processIdentity(exitedBefore.pid!)}`,
    `-${exitedBefore.pid}`,
    // Another process given a listed pid: its start time differs.
    `+${samePidOtherProcess.pid} ${processIdentity(samePidOtherProcess.pid!)}0`,
  ]);
  assert.equal(code, 0);
  assert.equal(await listedDead, 'SIGKILL');
  assert.ok(alive(exitedBefore.pid!), 'a child reported as exited was killed');
  assert.ok(alive(samePidOtherProcess.pid!), 'a process with a reused pid was killed');
});
