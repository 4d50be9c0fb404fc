// The durable job table: every job record in memory, every change appended to an fsync'd
// JSON-lines log (`jobs.jsonl`) that is replayed on start and compacted now and then.
// A lock file keeps two daemons from writing the same store.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { JobRecord, Stage } from '../../shared/jobs.ts';
import { JsonLinesLog } from './jsonl_log.ts';
import { processAlive } from '../util/process.ts';

/** Bookkeeping kept with a job but not part of the public record. */
export const JobMeta = z.strictObject({
  /** sha256 of the canonical request, for idempotency checks; null without a key. */
  fingerprint: z.string().nullable(),
  /** Stage the job was in each time the daemon died under it (the attempt cap counts these). */
  crashStages: z.array(Stage.nullable()),
});
export type JobMeta = z.infer<typeof JobMeta>;

const LogEntry = z.discriminatedUnion('op', [
  z.strictObject({ v: z.literal(1), op: z.literal('put'), job: JobRecord, meta: JobMeta }),
  z.strictObject({ v: z.literal(1), op: z.literal('del'), id: z.string() }),
]);
type LogEntry = z.infer<typeof LogEntry>;

export interface StoredJob {
  job: JobRecord;
  meta: JobMeta;
}

export interface JobStoreOpenResult {
  /** Problems found while replaying (torn tail, unreadable lines), for the daemon log. */
  warnings: string[];
}

export class JobStore {
  private readonly jobs = new Map<string, StoredJob>();
  private readonly byKey = new Map<string, string>();
  private readonly log: JsonLinesLog<LogEntry>;
  private readonly lock: StoreLock;

  /**
   * @param dir folder of `jobs.jsonl` and `jobs.lock`
   * @param compactAfter appends after which the log is rewritten (at least 4x the live jobs)
   */
  constructor(
    readonly dir: string,
    private readonly compactAfter = 1000,
  ) {
    this.log = new JsonLinesLog(path.join(dir, 'jobs.jsonl'), (v) => LogEntry.parse(v));
    this.lock = new StoreLock(path.join(dir, 'jobs.lock'));
  }

  open(): JobStoreOpenResult {
    this.lock.acquire();
    try {
      const replay = this.log.open();
      for (const entry of replay.entries) this.apply(entry);
      const warnings = [...replay.skipped.map((s) => `skipped unreadable job log line ${s}`)];
      if (replay.tornTail) warnings.push(`${this.log.file}: dropped a partial last line (the daemon stopped while writing it)`);
      // Start from a compact log: one line per job.
      this.compact();
      return { warnings };
    } catch (err) {
      this.log.close();
      this.lock.release();
      throw err;
    }
  }

  private apply(entry: LogEntry): void {
    if (entry.op === 'put') {
      this.index(entry.job, entry.meta);
    } else {
      this.unindex(entry.id);
    }
  }

  private index(job: JobRecord, meta: JobMeta): void {
    const previous = this.jobs.get(job.id);
    if (previous) {
      // Keep the Map's insertion order (= submission order, the queue's FIFO order).
      previous.job = job;
      previous.meta = meta;
    } else {
      this.jobs.set(job.id, { job, meta });
    }
    const key = job.request.idempotency_key;
    if (key !== undefined) this.byKey.set(key, job.id);
  }

  private unindex(id: string): void {
    const stored = this.jobs.get(id);
    if (!stored) return;
    this.jobs.delete(id);
    const key = stored.job.request.idempotency_key;
    if (key !== undefined && this.byKey.get(key) === id) this.byKey.delete(key);
  }

  /** All jobs, in submission order. */
  all(): StoredJob[] {
    return [...this.jobs.values()];
  }

  get(id: string): StoredJob | undefined {
    return this.jobs.get(id);
  }

  getByIdempotencyKey(key: string): StoredJob | undefined {
    const id = this.byKey.get(key);
    return id === undefined ? undefined : this.jobs.get(id);
  }

  /** Persists a job's new record (fsync'd before this returns). */
  put(job: JobRecord, meta: JobMeta): void {
    this.log.append({ v: 1, op: 'put', job, meta });
    this.index(job, meta);
    this.compactIfDue();
  }

  /** Updates the in-memory record only (progress ticks); the next put persists it. */
  setVolatile(job: JobRecord): void {
    const stored = this.jobs.get(job.id);
    if (stored) stored.job = job;
  }

  delete(id: string): void {
    this.log.append({ v: 1, op: 'del', id });
    this.unindex(id);
    this.compactIfDue();
  }

  private compactIfDue(): void {
    if (this.log.appendCount >= Math.max(this.compactAfter, 4 * this.jobs.size)) this.compact();
  }

  compact(): void {
    this.log.rewrite(this.all().map(({ job, meta }) => ({ v: 1 as const, op: 'put' as const, job, meta })));
  }

  close(): void {
    this.log.close();
    this.lock.release();
  }
}

const heldLocks = new Set<string>();

/** A pid file: refused while another live process (or this one) holds it; a dead holder's lock is taken over. */
class StoreLock {
  constructor(private readonly file: string) {}

  acquire(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    if (heldLocks.has(this.file)) throw new Error(`job store ${path.dirname(this.file)} is already open in this process`);
    for (;;) {
      try {
        fs.writeFileSync(this.file, String(process.pid), { flag: 'wx', mode: 0o600 });
        heldLocks.add(this.file);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number(fs.readFileSync(this.file, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) {
        throw new Error(`job store ${path.dirname(this.file)} is in use by another daemon (pid ${holder}); stop it first`);
      }
      fs.rmSync(this.file, { force: true });
    }
  }

  release(): void {
    if (!heldLocks.delete(this.file)) return;
    fs.rmSync(this.file, { force: true });
  }
}
