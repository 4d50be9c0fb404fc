// The parent-death watch (POSIX), a small process of its own (see child_watch.ts): the parent
// writes to this process's stdin a line per child it starts (`+<pid> <identity>`) and per child
// that exited (`-<pid>`), and per folder to remove if it dies (`rm <path>`, until `forget <path>`). The parent's death,
// however it comes (kill -9 included), closes that pipe: this process then kills the process
// group of every child still listed that is still that child (same identity: a reused pid is
// never hit), removes the folders, and exits. Nothing here blocks, so it acts within
// milliseconds of the parent's death.
import fs from 'node:fs';
import { processIdentity } from './child_registry.ts';

const children = new Map<number, string>();
const folders = new Set<string>();
let pending = '';

function apply(line: string): void {
  const child = /^\+(\d+) (.+)$/.exec(line);
  if (child) children.set(Number(child[1]), child[2]!);
  else if (/^-\d+$/.test(line)) children.delete(Number(line.slice(1)));
  else if (line.startsWith('rm ')) folders.add(line.slice(3));
  else if (line.startsWith('forget ')) folders.delete(line.slice(7));
}

function parentGone(): void {
  if (pending) apply(pending);
  for (const [pid, identity] of children) {
    if (processIdentity(pid) !== identity) continue;
    // Its process group (the child and whatever it started); the child alone if it leads none.
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
        break;
      } catch {
        // no such group, or exited meanwhile
      }
    }
  }
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true, maxRetries: 3 });
  process.exit(0);
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  let newline: number;
  while ((newline = pending.indexOf('\n')) >= 0) {
    apply(pending.slice(0, newline));
    pending = pending.slice(newline + 1);
  }
});
process.stdin.on('end', parentGone);
process.stdin.on('error', parentGone);
