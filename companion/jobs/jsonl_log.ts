// An append-only JSON-lines file where every append is fsync'd before it returns, so a
// record that was acknowledged survives a kill -9 or power loss. Replay tolerates a torn
// last line (the write that was cut off) and compaction rewrites the file atomically.
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir, writeAll } from '../util/atomic_file.ts';

export interface ReplayResult<T> {
  entries: T[];
  /** A partial last line was found (a write cut off by a crash) and dropped. */
  tornTail: boolean;
  /** Complete lines that were not valid JSON or not valid entries (skipped, with reasons). */
  skipped: string[];
}

export class JsonLinesLog<T> {
  private fd: number | null = null;
  private appendsSinceCompact = 0;

  constructor(
    readonly file: string,
    private readonly validate: (value: unknown) => T,
  ) {}

  /** Reads every entry, then opens the file for appending (creating it if missing). */
  open(): ReplayResult<T> {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const result = this.replay();
    // Rewrite at once: drops a torn tail, so the next append cannot glue onto garbage.
    if (result.tornTail || result.skipped.length > 0) this.rewrite(result.entries);
    this.fd = fs.openSync(this.file, 'a', 0o600);
    return result;
  }

  private replay(): ReplayResult<T> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], tornTail: false, skipped: [] };
      throw err;
    }
    const lines = text.split('\n');
    // Every complete record ends in '\n', so the last element is '' unless a write was torn.
    const tail = lines.pop() ?? '';
    const entries: T[] = [];
    const skipped: string[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        entries.push(this.validate(JSON.parse(line)));
      } catch (err) {
        skipped.push(`${this.file}:${i + 1}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      }
    });
    return { entries, tornTail: tail.trim() !== '', skipped };
  }

  /** Appends one entry and fsyncs. */
  append(entry: T): void {
    if (this.fd === null) throw new Error(`${this.file}: log is not open`);
    writeAll(this.fd, `${JSON.stringify(entry)}\n`);
    fs.fsyncSync(this.fd);
    this.appendsSinceCompact++;
  }

  get appendCount(): number {
    return this.appendsSinceCompact;
  }

  /** Replaces the file's content with `entries`: temp file, fsync, rename, fsync the folder. */
  rewrite(entries: readonly T[]): void {
    const tmp = `${this.file}.compact-${process.pid}`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      writeAll(fd, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    fsyncDir(path.dirname(this.file));
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = fs.openSync(this.file, 'a', 0o600);
    }
    this.appendsSinceCompact = 0;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
