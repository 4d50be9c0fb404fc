// Processes as Linux's /proc shows them, for tests that kill a parent and check what is left.
import fs from 'node:fs';

/** False for a process that exited (a zombie not yet reaped included). */
export function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The command line, arguments separated by spaces; '' for a process that is gone. */
export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function pids(): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

/** Every running process below `pid`, children first. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of pids()) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), p]);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length; ) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found.filter(running);
}

/** Running processes whose command line names `text`. */
export function processesNaming(text: string): number[] {
  return pids().filter((p) => commandLine(p).includes(text) && running(p));
}

/**
 * Freezes `orphans` and the parent-death watch below `parentPid` (SIGSTOP), as if the watch had
 * failed, so a test can kill the parent and check the start-up cleanup, the second line of
 * defence. Call the returned function once the parent is dead: it kills the frozen watch.
 */
export function freezeWithWatch(parentPid: number, orphans: readonly number[]): { watchers: number[]; killWatchers(): void } {
  const watchers = descendants(parentPid).filter((p) => commandLine(p).includes('child_watch_entry'));
  for (const pid of [...orphans, ...watchers]) process.kill(pid, 'SIGSTOP');
  return { watchers, killWatchers: () => watchers.forEach((pid) => process.kill(pid, 'SIGKILL')) };
}
