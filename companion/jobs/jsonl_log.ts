// An append-only JSON-lines file with group commit: appends queued while a write is in flight
// go out together in one write and one fsync, off the event loop, and each append's promise
// resolves only once its line is fsync'd — so a record that was acknowledged survives a
// kill -9 or power loss. A failed write (a full disk) is cut back to the last committed length,
// so the file never keeps a fragment for the next line to be glued onto. Replay tolerates a
// torn last line (the write a crash cut off); damaged complete lines are reported and the
// original file is kept as `<file>.bad-<time>` before it is rewritten. Compaction rewrites the
// file atomically, in turn with the appends.
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir, writeAll } from '../util/atomic_file.ts';

export interface DamagedLine {
  /** 1-based line number. */
  line: number;
  text: string;
  /** Why it could not be read, in one line. */
  reason: string;
}

export interface ReplayResult<T> {
  entries: T[];
  /** A partial last line was found (a write cut off by a crash) and dropped. */
  tornTail: boolean;
  /** Complete lines that were not valid JSON or not valid entries (skipped). */
  damaged: DamagedLine[];
  /** Where the original file was kept when lines were damaged (before the rewrite). */
  backup: string | null;
}

/** The file operations of a commit; tests substitute a failing one (a full disk). */
export interface LogIo {
  write(fd: number, data: Buffer): Promise<void>;
  fsync(fd: number): Promise<void>;
  truncate(fd: number, length: number): Promise<void>;
}

export const fsLogIo: LogIo = {
  async write(fd, data) {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await new Promise<{ bytesWritten: number }>((resolve, reject) =>
        fs.write(fd, data, offset, data.length - offset, null, (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten }))),
      );
      offset += bytesWritten;
    }
  },
  fsync: (fd) => new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve()))),
  truncate: (fd, length) => new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve()))),
};

export interface LogHooks<T> {
  /** Called synchronously once `entries` are durable, before their appends resolve. */
  committed?(entries: readonly T[]): void;
  /** Called synchronously after a failed commit was cut back, before the appends reject. */
  failed?(err: unknown, refused: readonly T[]): void;
}

type QueueItem<T> =
  | { kind: 'append'; entry: T; line: string; resolve: () => void; reject: (err: unknown) => void }
  | { kind: 'rewrite'; entries: () => readonly T[]; resolve: () => void; reject: (err: unknown) => void };

export class JsonLinesLog<T> {
  private fd: number | null = null;
  /** Bytes of the file that are committed (the length a failed write is cut back to). */
  private committedLength = 0;
  private appendsSinceCompact = 0;
  private readonly queue: QueueItem<T>[] = [];
  private draining: Promise<void> | null = null;

  constructor(
    readonly file: string,
    private readonly validate: (value: unknown) => T,
    private readonly hooks: LogHooks<T> = {},
    private readonly io: LogIo = fsLogIo,
  ) {}

  /** Reads every entry, then opens the file for appending (creating it if missing). */
  open(): ReplayResult<T> {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const result = this.replay();
    if (result.damaged.length > 0) {
      result.backup = `${this.file}.bad-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      fs.copyFileSync(this.file, result.backup);
      fs.chmodSync(result.backup, 0o600);
    }
    // Rewrite at once: drops a torn tail, so the next append cannot glue onto garbage.
    if (result.tornTail || result.damaged.length > 0) this.rewriteNow(result.entries);
    this.fd = fs.openSync(this.file, 'a', 0o600);
    this.committedLength = fs.fstatSync(this.fd).size;
    return result;
  }

  private replay(): ReplayResult<T> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], tornTail: false, damaged: [], backup: null };
      throw err;
    }
    const lines = text.split('\n');
    // Every complete record ends in '\n', so the last element is '' unless a write was torn.
    const tail = lines.pop() ?? '';
    const entries: T[] = [];
    const damaged: DamagedLine[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        entries.push(this.validate(JSON.parse(line)));
      } catch (err) {
        damaged.push({ line: i + 1, text: line, reason: err instanceof Error ? err.message.split('\n')[0]! : String(err) });
      }
    });
    return { entries, tornTail: tail.trim() !== '', damaged, backup: null };
  }

  /**
   * Queues one entry; resolves once it is written and fsync'd (with whatever else was queued
   * meanwhile). Rejects if the write fails: the file is then cut back to its committed length,
   * and every entry queued behind it is rejected too (the caller's view must stay the file's).
   */
  append(entry: T): Promise<void> {
    if (this.fd === null) return Promise.reject(new Error(`${this.file}: log is not open`));
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'append', entry, line: `${JSON.stringify(entry)}\n`, resolve, reject });
      this.drainSoon();
    });
  }

  get appendCount(): number {
    return this.appendsSinceCompact;
  }

  /**
   * Replaces the file's content, in turn with the appends: `entries` is called when the
   * rewrite runs, so it sees exactly what is committed then.
   */
  rewrite(entries: () => readonly T[]): Promise<void> {
    if (this.fd === null) return Promise.reject(new Error(`${this.file}: log is not open`));
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'rewrite', entries, resolve, reject });
      this.drainSoon();
    });
  }

  /** Waits for queued appends and rewrites, then closes the file. */
  async close(): Promise<void> {
    while (this.draining) await this.draining;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private drainSoon(): void {
    // Started on the next turn of the event loop, so that the appends of this turn (a burst of
    // requests parsed together) share the first write and fsync.
    this.draining ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain()).finally(() => {
      this.draining = null;
      // Queued by a handler of the last group, after the loop had looked.
      if (this.queue.length > 0) this.drainSoon();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.kind === 'rewrite') {
        this.queue.shift();
        try {
          this.rewriteNow(head.entries());
          head.resolve();
        } catch (err) {
          head.reject(err);
        }
        continue;
      }
      const end = this.queue.findIndex((item) => item.kind !== 'append');
      const group = this.queue.splice(0, end < 0 ? this.queue.length : end) as Extract<QueueItem<T>, { kind: 'append' }>[];
      const data = Buffer.from(group.map((g) => g.line).join(''), 'utf8');
      try {
        await this.io.write(this.fd!, data);
        await this.io.fsync(this.fd!);
      } catch (err) {
        await this.cutBack();
        // Everything queued behind the failed group is refused as well: its callers applied
        // it on top of state that is now undone.
        const refused = [...group, ...this.queue.splice(0)];
        this.hooks.failed?.(err, refused.flatMap((item) => (item.kind === 'append' ? [item.entry] : [])));
        for (const item of refused) item.reject(err);
        continue;
      }
      this.committedLength += data.length;
      this.appendsSinceCompact += group.length;
      this.hooks.committed?.(group.map((g) => g.entry));
      for (const g of group) g.resolve();
    }
  }

  /** After a failed write: the file back to its committed length, durably. */
  private async cutBack(): Promise<void> {
    try {
      await this.io.truncate(this.fd!, this.committedLength);
      await this.io.fsync(this.fd!);
    } catch {
      // A file that cannot even be truncated keeps a fragment; the next start drops it as a
      // torn tail or names it as a damaged line (with a backup), never silently.
    }
  }

  /** Replaces the file's content with `entries`: temp file, fsync, rename, fsync the folder. */
  private rewriteNow(entries: readonly T[]): void {
    const tmp = `${this.file}.compact-${process.pid}`;
    const text = entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    try {
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        writeAll(fd, text);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fsyncDir(path.dirname(this.file));
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = fs.openSync(this.file, 'a', 0o600);
    }
    this.committedLength = Buffer.byteLength(text, 'utf8');
    this.appendsSinceCompact = 0;
  }
}
