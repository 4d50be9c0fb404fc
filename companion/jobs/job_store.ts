// The durable job table: every job record in memory, every change appended to an fsync'd
// JSON-lines log (`jobs.jsonl`, group commit) that is replayed on start and compacted now and
// then. Readers (`get`, `all`) see committed records only, so nothing is shown that a restart
// would not find; the writer's own next change builds on `latest`, which includes its changes
// still on their way to the disk. If the log refuses a change (a full disk), the queued changes
// are dropped and memory stays what the log holds. A lock file keeps two daemons from writing
// the same store.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { JobRecord, Stage } from '../../shared/jobs.ts';
import { JsonLinesLog, type DamagedLine, type LogIo } from './jsonl_log.ts';
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
  /** Problems found while replaying (torn tail, damaged lines), for the daemon log. */
  warnings: string[];
}

export interface JobStoreOptions {
  /** Appends after which the log is rewritten (at least 4x the live jobs); default 1000. */
  compactAfter?: number;
  /** For problems that do not fail a request (a compaction that could not be written). */
  warn?: (message: string) => void;
  /** The log's file operations (tests simulate a full disk). */
  io?: LogIo;
}

/** A change on its way to the log: the record it makes (null: deleted) and its commit. */
interface PendingChange {
  entry: LogEntry;
  stored: StoredJob | null;
  committed: Promise<void>;
}

export class JobStore {
  /** Committed records (plus progress ticks), in submission order. */
  private readonly jobs = new Map<string, StoredJob>();
  private readonly byKey = new Map<string, string>();
  /** The newest uncommitted change of each job. */
  private readonly pending = new Map<string, PendingChange>();
  private readonly log: JsonLinesLog<LogEntry>;
  private readonly lock: StoreLock;
  private readonly compactAfter: number;
  private readonly warn: (message: string) => void;
  private compactQueued = false;

  /** @param dir folder of `jobs.jsonl` and `jobs.lock` */
  constructor(
    readonly dir: string,
    options: JobStoreOptions = {},
  ) {
    this.compactAfter = options.compactAfter ?? 1000;
    this.warn = options.warn ?? (() => {});
    this.log = new JsonLinesLog(
      path.join(dir, 'jobs.jsonl'),
      parseLogEntry,
      { committed: (entries) => this.commit(entries), failed: () => this.pending.clear() },
      options.io,
    );
    this.lock = new StoreLock(path.join(dir, 'jobs.lock'));
  }

  async open(): Promise<JobStoreOpenResult> {
    this.lock.acquire();
    try {
      const replay = this.log.open();
      for (const entry of replay.entries) this.apply(entry);
      const warnings = replay.damaged.map((d) => this.describeDamage(d));
      if (replay.backup) warnings.push(`the job log as it was is kept in ${replay.backup}`);
      if (replay.tornTail) warnings.push(`${this.log.file}: dropped a partial last line (the daemon stopped while writing it)`);
      // Start from a compact log: one line per job (the log as it is serves if that fails).
      await this.compact().catch((err: unknown) => warnings.push(`could not compact ${this.log.file}: ${err instanceof Error ? err.message : err}`));
      return { warnings };
    } catch (err) {
      await this.log.close();
      this.lock.release();
      throw err;
    }
  }

  /** A damaged line, in words: which job it was, and what of that job was kept. */
  private describeDamage(d: DamagedLine): string {
    const where = `${this.log.file} line ${d.line} is damaged (${d.reason})`;
    const id = jobIdIn(d.text);
    if (id === undefined) return `${where}; no job id can be read from it`;
    const kept = this.jobs.get(id)?.job;
    if (kept) return `${where}: job ${id} keeps its other record (state ${kept.state}, updated ${kept.updated_at})`;
    return `${where}: job ${id} has no other record and is lost`;
  }

  /** Entries now durable: into the committed records. */
  private commit(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      const id = entry.op === 'put' ? entry.job.id : entry.id;
      const change = this.pending.get(id);
      if (change?.entry !== entry) {
        this.apply(entry);
        continue;
      }
      // The job's newest change, with what setVolatile changed since it was queued (a stage's
      // timing, progress): kept for the next put to persist, as on a committed record.
      this.pending.delete(id);
      if (change.stored) this.index(change.stored.job, change.stored.meta);
      else this.unindex(id);
    }
    this.compactIfDue();
  }

  private apply(entry: LogEntry): void {
    if (entry.op === 'put') this.index(entry.job, entry.meta);
    else this.unindex(entry.id);
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

  /** All committed jobs, in submission order. */
  all(): StoredJob[] {
    return [...this.jobs.values()];
  }

  /** A job's committed record. */
  get(id: string): StoredJob | undefined {
    return this.jobs.get(id);
  }

  /** A job's newest record, committed or not (undefined once its delete is queued). */
  latest(id: string): StoredJob | undefined {
    const change = this.pending.get(id);
    return change ? (change.stored ?? undefined) : this.jobs.get(id);
  }

  /** The commit of a job's newest change, if it is still on its way. */
  pendingCommit(id: string): Promise<void> | undefined {
    return this.pending.get(id)?.committed;
  }

  /** The newest record holding this idempotency key, committed or not. */
  getByIdempotencyKey(key: string): StoredJob | undefined {
    for (const change of this.pending.values()) if (change.stored?.job.request.idempotency_key === key) return change.stored;
    const id = this.byKey.get(key);
    return id === undefined ? undefined : this.latest(id);
  }

  /**
   * Queues a job's new record: `latest` has it at once, `get`/`all` once it is durable
   * (fsync'd), which is when the promise resolves. Rejects if the log refuses it.
   */
  put(job: JobRecord, meta: JobMeta): Promise<void> {
    return this.queue({ v: 1, op: 'put', job, meta }, { job, meta });
  }

  /** Updates the newest record in memory only (progress ticks); the next put persists it. */
  setVolatile(job: JobRecord): void {
    const stored = this.latest(job.id);
    if (stored) stored.job = job;
  }

  delete(id: string): Promise<void> {
    return this.queue({ v: 1, op: 'del', id }, null);
  }

  private queue(entry: LogEntry, stored: StoredJob | null): Promise<void> {
    const committed = this.log.append(entry);
    this.pending.set(entry.op === 'put' ? entry.job.id : entry.id, { entry, stored, committed });
    return committed;
  }

  private compactIfDue(): void {
    if (this.compactQueued || this.log.appendCount < Math.max(this.compactAfter, 4 * this.jobs.size)) return;
    this.compact().catch((err: unknown) => this.warn(`could not compact ${this.log.file} (it keeps growing until this works): ${err instanceof Error ? err.message : err}`));
  }

  /** Rewrites the log as one line per committed job, in turn with the appends. */
  compact(): Promise<void> {
    this.compactQueued = true;
    return this.log
      .rewrite(() => this.all().map(({ job, meta }) => ({ v: 1 as const, op: 'put' as const, job, meta })))
      .finally(() => {
        this.compactQueued = false;
      });
  }

  /** Waits for queued changes, then closes the log and releases the lock. */
  async close(): Promise<void> {
    await this.log.close();
    this.lock.release();
  }
}

/** A log line as an entry, or an error whose message says which field is wrong, in one line. */
function parseLogEntry(value: unknown): LogEntry {
  const parsed = LogEntry.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join('.');
  throw new Error(`${field ? `field "${field}": ` : ''}${issue?.message ?? 'not a job log entry'}`);
}

/** The job id a damaged line is about, if one can be read from it. */
function jobIdIn(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as { job?: { id?: unknown }; id?: unknown };
    const id = value.job?.id ?? value.id;
    if (typeof id === 'string' && id !== '') return id;
  } catch {
    // Not JSON at all: look for the id in the text itself.
  }
  return /"id"\s*:\s*"([0-9a-fA-F-]{36})"/.exec(text)?.[1];
}

const heldLocks = new Set<string>();

/** A pid file: refused while another live process (or this one) holds it; a dead holder's lock is taken over. */
class StoreLock {
  constructor(private readonly file: string) {}

  acquire(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
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
