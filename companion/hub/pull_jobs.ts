// Model jobs: `tokenflow models pull` run by the daemon for the panel. Each job is
// `pullModel` (same HF cache, same hash checks, same resume of partial downloads) with its
// progress turned into `model.progress` events, kept in `<data>/model-pulls.json` so that a
// job interrupted by a daemon restart resumes, and refused before it starts when the cache's
// folder has less free space than the bytes still to download.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { ModelJob, ModelPullRequest } from '../../shared/model_pulls.ts';
import type { LogLevel } from '../../shared/events.ts';
import { processEnv } from '../config.ts';
import { writeFileAtomic } from '../util/atomic_file.ts';
import { HubError, type RetryPolicy } from './hub_client.ts';
import { pullModel, pullNeeds } from './pull.ts';

export const MODEL_JOBS_FILE = 'model-pulls.json';

/** A refused request, with the HTTP status the daemon answers. */
export class ModelPullError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
    this.name = 'ModelPullError';
  }
}

export interface ModelPullOptions {
  dataDir: string;
  env?: Record<string, string | undefined>;
  log?: (level: LogLevel, message: string) => void;
  /** Free bytes of a folder (default: the file system's, from statfs). */
  freeBytes?: (folder: string) => Promise<number>;
  retry?: Partial<RetryPolicy>;
  /** Called after a pull succeeded (the daemon refreshes its model list). */
  onInstalled?: (modelId: string) => void;
}

const ACTIVE = new Set<ModelJob['state']>(['queued', 'running']);

export class ModelPullService {
  private readonly jobs = new Map<string, ModelJob>();
  private readonly running = new Map<string, AbortController>();
  /** Each model's last pull until it has settled (a canceled one still holds the repo's lock). */
  private readonly settling = new Map<string, Promise<void>>();
  private readonly listeners = new Set<(job: ModelJob) => void>();
  private readonly file: string;
  private closed = false;

  constructor(private readonly opts: ModelPullOptions) {
    this.file = path.join(opts.dataDir, MODEL_JOBS_FILE);
  }

  /** Loads earlier jobs and resumes those a stop interrupted. */
  start(): void {
    let saved: ModelJob[] = [];
    try {
      saved = JSON.parse(fs.readFileSync(this.file, 'utf8')) as ModelJob[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log('warn', `${this.file} is unreadable, earlier model jobs are forgotten: ${(err as Error).message}`);
    }
    for (const job of saved) this.jobs.set(job.id, job);
    for (const job of saved.filter((j) => ACTIVE.has(j.state))) {
      this.log('info', `resuming the download of ${job.model_id}`);
      this.run(job);
    }
  }

  onEvent(listener: (job: ModelJob) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): ModelJob[] {
    return [...this.jobs.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  get(id: string): ModelJob | undefined {
    return this.jobs.get(id);
  }

  /** Starts a pull, or returns the active one for the same model (created: false). */
  async submit(request: ModelPullRequest): Promise<{ job: ModelJob; created: boolean }> {
    const active = this.list().find((j) => j.model_id === request.id && ACTIVE.has(j.state));
    if (active) return { job: active, created: false };
    await this.settling.get(request.id);
    const env = this.opts.env ?? processEnv();
    let needs;
    try {
      needs = await pullNeeds(request.id, { revision: request.revision, precision: request.precision, env, retry: this.opts.retry });
    } catch (err) {
      throw refusal(err);
    }
    const free = await (this.opts.freeBytes ?? freeBytesOf)(needs.blobsDir);
    if (free < needs.bytesNeeded) {
      throw new ModelPullError(507, 'disk_full', `${request.id} needs ${gb(needs.bytesNeeded)} more in ${needs.blobsDir}, but only ${gb(free)} is free there: free some space (or set HF_HUB_CACHE to a folder on a larger disk) and try again`);
    }
    const now = new Date().toISOString();
    const job: ModelJob = {
      id: randomUUID(),
      model_id: request.id,
      revision: request.revision ?? 'main',
      precision: request.precision ?? 'fp16',
      state: 'queued',
      bytes_done: 0,
      bytes_total: needs.bytesToFetch,
      bytes_per_second: 0,
      eta_s: null,
      file: null,
      error: null,
      created_at: now,
      updated_at: now,
    };
    this.jobs.set(job.id, job);
    this.save();
    this.emit(job);
    this.run(job);
    return { job, created: true };
  }

  /** Cancels an active job (its partial download stays, so a new pull resumes it). */
  cancel(id: string): ModelJob {
    const job = this.jobs.get(id);
    if (!job) throw new ModelPullError(404, 'not_found', `no model job with id ${id}`, 'id');
    if (!ACTIVE.has(job.state)) return job;
    this.update(job, { state: 'canceled', bytes_per_second: 0, eta_s: null });
    this.running.get(id)?.abort(new Error('canceled'));
    return job;
  }

  /** Stops running pulls without changing their state: they resume on the next start. */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.running.values()) controller.abort(new Error('daemon stopping'));
    this.running.clear();
  }

  private run(job: ModelJob): void {
    const controller = new AbortController();
    this.running.set(job.id, controller);
    this.update(job, { state: 'running' });
    const settled = this.pull(job, controller).then(
      () => {
        this.running.delete(job.id);
        if (job.state !== 'running') return;
        this.update(job, { state: 'succeeded', bytes_done: job.bytes_total, bytes_per_second: 0, eta_s: 0, file: null });
        this.log('info', `model ${job.model_id} downloaded`);
        this.opts.onInstalled?.(job.model_id);
      },
      (err: unknown) => {
        this.running.delete(job.id);
        if (controller.signal.aborted || job.state !== 'running') return;
        const failure = refusal(err);
        this.update(job, { state: 'failed', bytes_per_second: 0, eta_s: null, error: { code: failure.code, message: failure.message } });
        this.log('error', `download of ${job.model_id} failed: ${failure.message}`);
      },
    );
    this.settling.set(job.model_id, settled);
    void settled.finally(() => {
      if (this.settling.get(job.model_id) === settled) this.settling.delete(job.model_id);
    });
  }

  private async pull(job: ModelJob, controller: AbortController): Promise<void> {
    const env = this.opts.env ?? processEnv();
    const options = { revision: job.revision, precision: job.precision, env, signal: controller.signal, retry: this.opts.retry };
    // Files an earlier run of this job finished are skipped by the pull (already in the
    // cache) and so not in its counts: they are the part of the job's total it no longer has to fetch.
    const left = await pullNeeds(job.model_id, options);
    const finished = Math.max(0, job.bytes_total - left.bytesToFetch);
    await pullModel(job.model_id, {
      ...options,
      progressIntervalMs: 250,
      onMessage: (m) => this.log('info', `${job.model_id}: ${m}`),
      onProgress: (p) => {
        if (controller.signal.aborted) return;
        const done = Math.min(finished + p.bytesDone, job.bytes_total);
        this.update(job, {
          bytes_done: done,
          bytes_per_second: p.bytesPerSecond,
          eta_s: p.bytesPerSecond > 0 ? (job.bytes_total - done) / p.bytesPerSecond : null,
          file: p.file,
        }, false);
      },
    });
  }

  private update(job: ModelJob, change: Partial<ModelJob>, persist = true): void {
    if (this.closed) return;
    Object.assign(job, change, { updated_at: new Date().toISOString() });
    if (persist) this.save();
    this.emit(job);
  }

  private emit(job: ModelJob): void {
    const copy = { ...job };
    for (const l of this.listeners) l(copy);
  }

  private save(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    writeFileAtomic(this.file, `${JSON.stringify(this.list(), null, 1)}\n`);
  }

  private log(level: LogLevel, message: string): void {
    this.opts.log?.(level, message);
  }
}

async function freeBytesOf(folder: string): Promise<number> {
  const s = await statfs(folder);
  return s.bavail * s.bsize;
}

/** A hub or network failure as the daemon's error code and a message for the user. */
function refusal(err: unknown): ModelPullError {
  if (err instanceof ModelPullError) return err;
  if (err instanceof HubError) {
    switch (err.kind) {
      case 'not-found':
      case 'revision-not-found':
        return new ModelPullError(404, 'model_not_found', err.message, 'id');
      case 'not-a-pipeline':
        return new ModelPullError(422, 'bad_request', err.message, 'id');
      case 'gated':
      case 'unauthorized':
      case 'forbidden':
        return new ModelPullError(403, 'forbidden', err.message, 'id');
      default:
        return new ModelPullError(502, 'hub_failed', err.message);
    }
  }
  if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC') return new ModelPullError(507, 'disk_full', `no space left while downloading: ${(err as Error).message}`);
  return new ModelPullError(502, 'hub_failed', err instanceof Error ? err.message : String(err));
}

function gb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}
