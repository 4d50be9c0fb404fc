// The daemon's child processes (ffmpeg, ffprobe, the pipeline process) must not outlive it.
// A daemon that stops normally kills them itself (abort signals, PipelineHost.close), and one
// that throws its way out kills them on 'exit'; a daemon killed with -9 (or by the OOM killer)
// cannot. So each child runs in its own process group (POSIX) and is recorded in a file in the
// daemon's data folder until it exits: the next daemon kills the recorded groups that are
// still those children (same pid *and* same start time, so a reused pid is never hit) before
// it resumes any job. That is the second line of defence: the first is the parent-death watch
// (child_watch.ts), which `tokenflow serve`, `worker` and `edit` install and which ends the
// children as soon as their parent dies. One registry per process: the daemon's job service
// installs it; with neither installed (tests) children are spawned as usual.
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ChildWatch } from './child_watch.ts';

interface ChildRecord {
  pid: number;
  /** What the child runs (its binary's base name), for the log line. */
  command: string;
  /** processIdentity() at spawn: tells the child from a later process given the same pid. */
  identity: string;
}

export class ChildRegistry {
  private readonly live = new Map<number, ChildProcess>();
  private readonly killAllOnExit = () => {
    for (const pid of this.live.keys()) killGroup(pid);
  };

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Kills the process groups that a previous daemon on this data folder recorded and that
   * are still running, and forgets every record. Returns a line per group killed.
   */
  killLeftovers(): string[] {
    const killed: string[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const file = path.join(this.dir, name);
      try {
        const record = JSON.parse(fs.readFileSync(file, 'utf8')) as ChildRecord;
        if (Number.isInteger(record.pid) && record.pid > 1 && processIdentity(record.pid) === record.identity && killGroup(record.pid)) {
          killed.push(`${record.command} (pid ${record.pid})`);
        }
      } catch {
        // A record torn by the kill: its child, if any, is found by no other means.
      }
      fs.rmSync(file, { force: true });
    }
    return killed;
  }

  /** Records a child spawned with childSpawnOptions(); the record goes when the child exits. */
  track(child: ChildProcess, command: string, identity = child.pid === undefined ? null : processIdentity(child.pid)): void {
    const pid = child.pid;
    if (pid === undefined || identity === null) return; // failed to spawn, already gone, or no way to recognise it later
    const file = path.join(this.dir, `${pid}.json`);
    let recorded = true;
    try {
      fs.writeFileSync(file, JSON.stringify({ pid, command: path.basename(command), identity } satisfies ChildRecord), { mode: 0o600 });
    } catch {
      // A full data disk: the child runs unrecorded (killed on this daemon's exit, not after a
      // kill -9) rather than failing the probe or render that needs it, which reports the disk.
      recorded = false;
      removeQuietly(file);
    }
    if (this.live.size === 0) process.on('exit', this.killAllOnExit);
    this.live.set(pid, child);
    child.once('exit', () => {
      this.live.delete(pid);
      if (this.live.size === 0) process.off('exit', this.killAllOnExit);
      if (recorded) fs.rmSync(file, { force: true });
    });
  }
}

let registry: ChildRegistry | null = null;
let watch: ChildWatch | null = null;

/** Installs this process's parent-death watch (POSIX; on Windows the system does it) and returns it. */
export function watchChildren(): ChildWatch | null {
  if (process.platform !== 'win32') watch ??= new ChildWatch();
  return watch;
}

/** Makes `next` the process-wide registry (the daemon's job service, once its data folder is locked). */
export function installChildRegistry(next: ChildRegistry): void {
  registry = next;
}

/** Removes `installed` if it is still the process-wide registry. */
export function uninstallChildRegistry(installed: ChildRegistry): void {
  if (registry === installed) registry = null;
}

/**
 * Spawn options for a child that must not outlive its parent: its own process group (POSIX),
 * which the watch or the next daemon kills. Never `detached` on Windows: that would take the
 * child out of the job object that ends it with its parent.
 */
export function childSpawnOptions(): { detached: boolean } {
  return { detached: (registry !== null || watch !== null) && process.platform !== 'win32' };
}

/** Records `child` in the installed registry and watch, if any (see childSpawnOptions). */
export function trackChild(child: ChildProcess, command: string): void {
  if (process.platform === 'win32' || (!registry && !watch)) return;
  const pid = child.pid;
  if (pid === undefined) return; // it failed to spawn ('error' follows)
  const identity = processIdentity(pid);
  if (identity === null) return; // already gone, or no way to recognise it later
  registry?.track(child, command, identity);
  if (watch) {
    const watching = watch;
    watching.add(pid, identity);
    child.once('exit', () => watching.remove(pid));
  }
}

/** Removes a torn record; a folder that cannot be written to leaves nothing to remove. */
function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // ENOTDIR and the like: there is no file.
  }
}

/** SIGKILL to the process group led by `pid`; false if it no longer exists. */
function killGroup(pid: number): boolean {
  try {
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/**
 * Something that differs between two processes that had the same pid: the boot and the start
 * time on Linux (/proc/<pid>/stat, field 22), the start time from ps elsewhere. Null when the
 * process does not exist.
 */
export function processIdentity(pid: number): string | null {
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces and parentheses): state is field 3.
      const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      return startTime ? `${boot}/${startTime}` : null;
    } catch {
      return null;
    }
  }
  try {
    const started = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return started || null;
  } catch {
    return null;
  }
}
