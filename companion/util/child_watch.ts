// The parent-death watch: a process's children (ffmpeg, ffprobe, the pipeline process) end when
// it dies, however it dies (kill -9 and the OOM killer included), without waiting for a restart.
// Measured with the bundled ffmpeg: it does not notice its parent's death by itself (stdin is not
// read, -nostdin; a `-progress pipe:1` write to the closed pipe fails silently): an extract or
// an encode was still running and writing 20 s after its parent's kill -9.
//   Windows: nothing to do here. Node starts every child that is not `detached` in a job object
//   that the system closes, killing the children, when the parent process ends in any way.
//   POSIX: a small watcher process (child_watch_entry.ts) holds a pipe from this process and is
//   told the pid of each child; the pipe closes when this process dies and the watcher kills the
//   children's process groups. Started with the first child; a watcher that died is replaced
//   at the next child. A child whose start this process did not live to report is found by the
//   next daemon's start-up cleanup (child_registry.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { childNodeArgs } from '../layout.ts';

export class ChildWatch {
  private watcher: ChildProcess | null = null;
  /** Children and folders to report again to a replacement watcher. */
  private readonly children = new Map<number, string>();
  private readonly folders = new Set<string>();

  /** Kill `pid`'s process group if this process dies while it runs (`identity`: see processIdentity). */
  add(pid: number, identity: string): void {
    this.children.set(pid, identity);
    this.tell(`+${pid} ${identity}`);
  }

  remove(pid: number): void {
    if (this.children.delete(pid)) this.tell(`-${pid}`);
  }

  /** Remove `folder` (recursively) if this process dies before calling forgetFolder. */
  removeOnDeath(folder: string): void {
    this.folders.add(folder);
    this.tell(`rm ${folder}`);
  }

  forgetFolder(folder: string): void {
    if (this.folders.delete(folder)) this.tell(`forget ${folder}`);
  }

  /** The watcher's pid (tests); null before the first child. */
  get pid(): number | null {
    return this.watcher?.pid ?? null;
  }

  private tell(line: string): void {
    if (!this.watcher) {
      this.watcher = this.start();
      // The new watcher learns everything still standing, `line`'s news included.
      for (const [pid, identity] of this.children) this.write(`+${pid} ${identity}`);
      for (const folder of this.folders) this.write(`rm ${folder}`);
      return;
    }
    this.write(line);
  }

  private write(line: string): void {
    if (this.watcher?.stdin?.writable) this.watcher.stdin.write(`${line}\n`);
  }

  private start(): ChildProcess {
    // Its own session: a Ctrl-C or hang-up meant for this process's terminal must not end it.
    const watcher = spawn(process.execPath, childNodeArgs('child_watch'), { detached: true, stdio: ['pipe', 'ignore', 'ignore'], windowsHide: true });
    // It must not keep this process alive, nor its pipe: its whole purpose is to outlive it.
    watcher.unref();
    (watcher.stdin as unknown as { unref(): void }).unref();
    watcher.stdin!.on('error', () => {}); // a watcher that died: replaced at the next child
    watcher.on('error', () => {}); // could not start: the start-up cleanup remains
    watcher.once('exit', () => {
      if (this.watcher === watcher) this.watcher = null;
    });
    return watcher;
  }
}
