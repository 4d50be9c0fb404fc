// JobService: the durable queue. Submissions are validated, persisted (fsync'd) and queued
// FIFO; up to `concurrency` jobs run at once through runner.ts; every change is persisted
// before it is announced, and announced as the shared WebSocket event types, in order.
// When the data disk is full a submission is refused (507 disk_full) and a running job whose
// change cannot be recorded is stopped; the records always match the job log.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MAX_PREVIEW_BASE64, type EventOf, type LogLevel, type ServerEvent, type ServerEventType } from '../../shared/events.ts';
import {
  type JobRequest,
  type JobRecord,
  type JobResult,
  type JobSettings,
  type JobState,
} from '../../shared/jobs.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import { ensurePrivateDir } from '../config.ts';
import { MediaError } from '../media/errors.ts';
import { parseRange } from '../media/range.ts';
import type { MediaInfo } from '../media/types.ts';
import type { PipelinePreview } from '../pipeline/interface.ts';
import type { DeleteOptions, JobServiceApi, JobServiceOptions, SubmitResult, Unsubscribe } from './api.ts';
import { JobServiceError } from './errors.ts';
import { classifyFailure } from './failure.ts';
import { requestFingerprint } from './idempotency.ts';
import { JobStore, type JobMeta } from './job_store.ts';
import type { LogIo } from './jsonl_log.ts';
import { loadMedia, type MediaApi } from './media_api.ts';
import { outputBaseName, removeJobFiles, removeJobLeftovers } from './output_files.ts';
import { DEFAULT_PIPELINE_MODULE, PipelineHost } from '../pipeline_process/host.ts';
import { PresetStore } from './presets_store.ts';
import { cachedProbe } from './probe_cache.ts';
import { PreviewThrottle } from './preview_throttle.ts';
import { ProgressTracker } from './progress.ts';
import { recoverRunningJobs } from './recovery.ts';
import { runJob, type RunJobContext } from './runner.ts';
import { StopReason } from './stop_reason.ts';
import { assertTransition, isFinished } from './state_machine.ts';
import { ChildRegistry, installChildRegistry, uninstallChildRegistry } from '../util/child_registry.ts';

/** How long cancel waits for a running job to stop before answering with its current state. */
const CANCEL_REPLY_WAIT_MS = 50;

/** Progress events per job are sent at most this often (the last of a stage always). */
const PROGRESS_INTERVAL_MS = 100;

/** How often the outcome of a job that could not be recorded (full disk) is tried again. */
const UNRECORDED_RETRY_MS = 5_000;

interface ActiveJob {
  controller: AbortController;
  tracker: ProgressTracker;
  previews: PreviewThrottle<PipelinePreview>;
  lastProgressAt: number;
  done: Promise<void>;
}

export interface JobServiceTestOptions {
  /** Media implementation (default: companion/media). Tests wrap it to simulate failures. */
  media?: MediaApi;
  /** Grace period for an aborted pipeline run before its process is killed (default 1000 ms). */
  abortGraceMs?: number;
  /** The job log's file operations (tests simulate a full disk). */
  logIo?: LogIo;
}

export class JobService implements JobServiceApi {
  readonly presets: PresetStore;
  private readonly store: JobStore;
  private readonly dataDir: string;
  private readonly outputDir: string;
  private readonly workDir: string;
  private readonly concurrency: number;
  private readonly maxAttempts: number;
  private readonly pipelines: PipelineHost;
  private readonly execute: (ctx: RunJobContext) => Promise<JobResult>;
  private readonly queuedUntilTaken: boolean;
  private readonly probeOnSubmit: boolean;
  private readonly checkSettings: ((settings: JobSettings) => Promise<void>) | undefined;
  private readonly defaultModel: string | undefined;
  private readonly previewIntervalMs: number;
  private readonly outputFileMode: number | undefined;
  private readonly logSink: (level: LogLevel, message: string) => void;
  private media: MediaApi | undefined;
  private probeForSubmit: (file: string) => Promise<MediaInfo> = () => Promise.reject(new Error('the job service is not started'));
  private readonly queue: string[] = [];
  private readonly active = new Map<string, ActiveJob>();
  private readonly listeners = new Set<(event: ServerEvent) => void>();
  /** Events wait here for the commits they announce, so they go out in order. */
  private outbox: Promise<void> = Promise.resolve();
  private outboxPending = 0;
  /** Finished jobs whose outcome the log could not take yet (full disk), retried by a timer. */
  private readonly unrecorded = new Map<string, () => Promise<void>>();
  private unrecordedTimer: NodeJS.Timeout | undefined;
  private readonly jobsDir: string;
  private state: 'new' | 'started' | 'closing' | 'closed' = 'new';
  private children: ChildRegistry | undefined;

  constructor(options: JobServiceOptions & JobServiceTestOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.outputDir = path.resolve(options.outputDir);
    this.workDir = path.resolve(options.workDir ?? path.join(this.dataDir, 'work'));
    this.concurrency = positiveInt(options.concurrency ?? 1, 'concurrency');
    this.maxAttempts = positiveInt(options.maxAttempts ?? 3, 'maxAttempts');
    this.pipelines = new PipelineHost(options.pipelineModule ?? DEFAULT_PIPELINE_MODULE, { abortGraceMs: options.abortGraceMs });
    this.execute = options.execute ?? runJob;
    this.queuedUntilTaken = options.queuedUntilTaken ?? false;
    this.probeOnSubmit = options.probeOnSubmit ?? true;
    this.checkSettings = options.checkSettings;
    this.defaultModel = options.defaultModel;
    this.previewIntervalMs = options.previewIntervalMs ?? 500;
    this.outputFileMode = options.outputFileMode;
    this.logSink = options.log ?? (() => {});
    this.media = options.media;
    this.jobsDir = path.join(this.dataDir, 'jobs');
    this.store = new JobStore(this.jobsDir, { warn: (m) => this.logSink('warn', m), io: options.logIo });
    this.presets = new PresetStore(this.jobsDir);
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('JobService.start() can be called once');
    this.media ??= await loadMedia();
    const media = this.media;
    this.probeForSubmit = cachedProbe((file) => media.probe(file));
    fs.mkdirSync(this.outputDir, { recursive: true });
    // Frames of the user's clips, latents and source paths: owner-only.
    for (const dir of [this.dataDir, this.jobsDir, this.workDir]) ensurePrivateDir(dir);
    const { warnings } = await this.store.open();
    for (const w of warnings) this.logSink('warn', w);
    // Under the store's lock: the recorded children are a dead daemon's, never a live one's.
    this.children = new ChildRegistry(path.join(this.dataDir, 'children'));
    for (const child of this.children.killLeftovers()) this.logSink('warn', `killed ${child}, left running by a daemon that did not stop cleanly`);
    installChildRegistry(this.children);
    try {
      this.presets.load();
      const now = new Date().toISOString();
      for (const r of recoverRunningJobs(this.store.all(), this.maxAttempts, now, this.queuedUntilTaken)) {
        await this.store.put(r.job, r.meta).catch((err: unknown) => {
          throw this.storageError(err, `could not record job ${r.job.id}'s recovery`);
        });
        this.logSink(r.job.state === 'interrupted' ? 'warn' : 'info', `job ${r.job.id}: ${r.note}`);
        // What its last attempt was writing (an encode's `.partial` file) is of no use to anyone.
        this.removeLeftovers(r.job);
      }
    } catch (err) {
      uninstallChildRegistry(this.children);
      await this.store.close();
      throw err;
    }
    for (const { job } of this.store.all()) if (job.state === 'queued') this.queue.push(job.id);
    this.removeOrphanWorkDirs();
    this.state = 'started';
    this.pump();
  }

  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    const wasStarted = this.state === 'started';
    this.state = 'closing';
    for (const a of this.active.values()) a.controller.abort(new StopReason('shutdown', 'the daemon is stopping'));
    await Promise.all([...this.active.values()].map((a) => a.done));
    await this.pipelines.close();
    clearInterval(this.unrecordedTimer);
    await this.outbox;
    if (wasStarted) await this.store.close();
    if (this.children) uninstallChildRegistry(this.children);
    this.listeners.clear();
    this.state = 'closed';
  }

  // -------------------------------------------------------------------------------------------
  // Queries

  list(): JobRecord[] {
    return this.store.all().map((s) => s.job);
  }

  get(id: string): JobRecord | undefined {
    return this.store.get(id)?.job;
  }

  /** The newest record of a job, including changes still on their way to the log. */
  private current(id: string): JobRecord {
    return this.store.latest(id)!.job;
  }

  /** A record stored before jobs named their model runs with the daemon's default, passed explicitly. */
  private withModel(job: JobRecord): JobRecord {
    if (job.settings.model !== null || this.defaultModel === undefined) return job;
    return { ...job, settings: { ...job.settings, model: this.defaultModel } };
  }

  snapshot(): JobRecord[] {
    const running = this.list().filter((j) => j.state === 'running');
    // Jobs handed to an executor's own queue (the farm's) and not taken yet, oldest first.
    const handedOn = this.list().filter((j) => j.state === 'queued' && this.active.has(j.id));
    return [...running, ...handedOn, ...this.queue.map((id) => this.store.get(id)!.job)];
  }

  queueCounts(): { queued: number; running: number } {
    const handedOn = [...this.active.keys()].filter((id) => this.current(id).state === 'queued').length;
    return { queued: this.queue.length + handedOn, running: this.active.size - handedOn };
  }

  // -------------------------------------------------------------------------------------------
  // Events

  on<T extends ServerEventType>(type: T, listener: (event: EventOf<T>) => void): Unsubscribe {
    return this.onEvent((event) => {
      if (event.type === type) listener(event as EventOf<T>);
    });
  }

  onEvent(listener: (event: ServerEvent) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ServerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logSink('error', `event listener failed on ${event.type}: ${err instanceof Error ? err.message : err}`);
      }
    }
  }

  /**
   * Sends an event once `after` (the commit it announces) is durable, and after every event
   * announced before it; an event whose commit failed is not sent.
   */
  private announce(event: ServerEvent, after?: Promise<void>): void {
    if (after === undefined && this.outboxPending === 0) {
      this.emit(event);
      return;
    }
    this.outboxPending++;
    this.outbox = this.outbox
      .then(() => after)
      .then(
        () => this.emit(event),
        () => {},
      )
      .finally(() => {
        this.outboxPending--;
      });
  }

  private jobLog(id: string, level: LogLevel, message: string): void {
    this.logSink(level, `job ${id.slice(0, 8)}: ${message}`);
    this.announce({ type: 'job.log', job_id: id, level, message, time: new Date().toISOString() });
  }

  /** A failed write of the job log, as what the caller answers: 507 disk_full when the disk is full. */
  private storageError(err: unknown, what: string): unknown {
    const errno = (err as NodeJS.ErrnoException | null)?.code;
    if (errno === 'ENOSPC' || errno === 'EDQUOT') {
      return new JobServiceError('disk_full', `the data folder ${this.jobsDir} is full (${errno}): ${what}; free some space and try again`, { cause: err });
    }
    return err;
  }

  // -------------------------------------------------------------------------------------------
  // Submit

  async submit(request: JobRequest): Promise<SubmitResult> {
    this.assertStarted();
    const fingerprint = request.idempotency_key === undefined ? null : requestFingerprint(request);
    const earlier = this.earlierSubmission(request, fingerprint);
    if (earlier) return this.replay(earlier);

    let preset;
    if (request.preset !== undefined) {
      preset = this.presets.get(request.preset);
      if (!preset) throw new JobServiceError('bad_request', `no preset named "${request.preset}"`, { field: 'preset' });
    }
    const settings = resolveJobSettings(request, preset, this.defaultModel);
    await this.checkSettings?.(settings);
    if (this.probeOnSubmit) await this.checkSource(request.source_path, settings);
    this.assertStarted();
    // The key may have been used by a submission that finished while this one was probing.
    const raced = this.earlierSubmission(request, fingerprint);
    if (raced) return this.replay(raced);

    const now = new Date().toISOString();
    const job: JobRecord = {
      id: randomUUID(),
      created_at: now,
      updated_at: now,
      request,
      settings,
      state: 'queued',
      stage: null,
      progress: { overall: 0, stage_done: 0, stage_total: 0, eta_s: null },
      timings: {},
      attempts: 0,
      result: null,
      error: null,
    };
    try {
      await this.store.put(job, { fingerprint, crashStages: [] });
    } catch (err) {
      throw this.storageError(err, 'the job was not created');
    }
    this.queue.push(job.id);
    this.announce({ type: 'job.state', job });
    this.jobLog(job.id, 'info', `queued (position ${this.queue.length})`);
    this.pump();
    return { job: this.get(job.id)!, created: true };
  }

  /** The job an earlier submission with this idempotency key made (conflict if the body differs). */
  private earlierSubmission(request: JobRequest, fingerprint: string | null): JobRecord | null {
    if (request.idempotency_key === undefined) return null;
    const existing = this.store.getByIdempotencyKey(request.idempotency_key);
    if (!existing) return null;
    if (existing.meta.fingerprint !== fingerprint) {
      throw new JobServiceError(
        'idempotency_conflict',
        `idempotency_key "${request.idempotency_key}" was already used for a different request (job ${existing.job.id})`,
        { field: 'idempotency_key' },
      );
    }
    return existing.job;
  }

  /** The earlier job, once its record is on the disk (it may still be on its way). */
  private async replay(job: JobRecord): Promise<SubmitResult> {
    await this.store.pendingCommit(job.id)?.catch((err: unknown) => {
      throw this.storageError(err, 'the job was not created');
    });
    return { job: this.get(job.id) ?? job, created: false };
  }

  /** The source must be a readable video and the range must lie inside it (the runner's own rule). */
  private async checkSource(sourcePath: string, settings: JobSettings): Promise<void> {
    try {
      const info = await this.probeForSubmit(sourcePath);
      parseRange(info, settings.start_ticks, settings.end_ticks);
    } catch (err) {
      if (err instanceof MediaError) {
        throw new JobServiceError('media_invalid', err.message, { field: err.code === 'range' ? 'range' : 'source_path', cause: err });
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Cancel and delete

  async cancel(id: string): Promise<JobRecord> {
    // A job whose submission is still being recorded joins the queue once it is.
    await this.store.pendingCommit(id)?.catch(() => {});
    const stored = this.requireJob(id);
    const job = stored.job;
    const position = this.queue.indexOf(id);
    if (job.state === 'queued' && position >= 0) {
      this.queue.splice(position, 1);
      try {
        await this.finish(id, 'canceled', { error: { code: 'canceled', message: 'canceled while queued' } });
      } catch (err) {
        this.queue.splice(position, 0, id);
        throw this.storageError(err, `job ${id} stays queued`);
      }
      return this.get(id)!;
    }
    if (this.unrecorded.has(id)) {
      // It has stopped already; only its outcome is not recorded yet: try now.
      await this.recordOutcome(id).catch((err: unknown) => {
        throw this.storageError(err, `job ${id} has stopped, but its outcome cannot be recorded yet`);
      });
      return this.get(id)!;
    }
    const active = this.active.get(id);
    if (active) {
      active.controller.abort(new StopReason('cancel', 'canceled by the user'));
      // Answer promptly: a pipeline call may take seconds before it sees the abort; the final
      // 'canceled' state follows as a job.state event.
      await Promise.race([active.done, new Promise((resolve) => setTimeout(resolve, CANCEL_REPLY_WAIT_MS).unref())]);
    }
    return this.get(id)!;
  }

  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    const { job } = this.requireJob(id);
    if (!isFinished(job.state)) {
      throw new JobServiceError('conflict', `job ${id} is ${job.state}; cancel it before deleting it`);
    }
    if (options.files && job.result) {
      const files = [job.result.output_path, ...job.result.preview_paths].filter((f): f is string => f !== null);
      // A farm's workers write renders to shared storage, outside this daemon's output folder.
      const elsewhere = this.queuedUntilTaken ? outputBaseName(job.request.source_path, job.request.prompt, job.id) : undefined;
      for (const refused of removeJobFiles(this.outputDir, files, elsewhere)) {
        this.logSink('warn', `job ${id}: not deleting ${refused}: it is not inside the output folder ${this.outputDir}${elsewhere ? ' nor a file named as this job\'s render' : ''}`);
      }
    }
    try {
      await this.store.delete(id);
    } catch (err) {
      throw this.storageError(err, `job ${id} was not deleted`);
    }
    this.announce({ type: 'job.deleted', job_id: id });
  }

  private requireJob(id: string) {
    const stored = this.store.latest(id);
    if (!stored) throw new JobServiceError('not_found', `no job with id "${id}"`);
    return stored;
  }

  // -------------------------------------------------------------------------------------------
  // Running

  private pump(): void {
    // While an outcome cannot be recorded (full disk), queued jobs stay queued.
    while (this.state === 'started' && this.unrecorded.size === 0 && this.active.size < this.concurrency && this.queue.length > 0) {
      this.startJob(this.queue.shift()!);
    }
  }

  private startJob(id: string): void {
    const attempt = this.store.latest(id)!.job.attempts + 1;
    const controller = new AbortController();
    // A change the log cannot take stops the job: it must not run on unrecorded.
    const stopUnrecorded = (err: unknown) => {
      const why = this.storageError(err, 'the job was stopped');
      controller.abort(new StopReason('storage', why instanceof Error ? why.message : String(why)));
    };
    const start = this.queuedUntilTaken ? { attempts: attempt, error: null } : { state: 'running' as const, attempts: attempt, error: null };
    this.update(id, start, { persist: true }).catch(stopUnrecorded);
    const active: ActiveJob = {
      controller,
      tracker: new ProgressTracker(),
      previews: new PreviewThrottle(this.previewIntervalMs, (p) => this.emitPreview(id, p)),
      lastProgressAt: -Infinity,
      done: Promise.resolve(),
    };
    this.active.set(id, active);
    this.jobLog(id, 'info', this.queuedUntilTaken ? `handed on (attempt ${attempt})` : `started (attempt ${attempt})`);
    active.done = this.execute({
      job: this.withModel(this.current(id)),
      jobDir: this.jobDir(id),
      outputDir: this.outputDir,
      pipelines: this.pipelines,
      media: this.media!,
      signal: controller.signal,
      events: {
        stageStart: (stage) => {
          const progress = active.tracker.start(stage);
          this.update(id, { stage, progress }, { persist: true }).catch(stopUnrecorded);
          this.emitProgress(id, active, true);
        },
        progress: (progress) => {
          void this.update(id, { progress: active.tracker.update(progress) }, { persist: false });
          this.emitProgress(id, active, progress.done >= progress.total);
        },
        stageEnd: (stage) => {
          const seconds = active.tracker.finish(stage);
          const job = this.current(id);
          // Persisted with the next stage's start or the final state (one fsync per stage).
          void this.update(id, { timings: { ...job.timings, [stage]: seconds }, progress: active.tracker.snapshot() }, { persist: false });
          this.emitProgress(id, active, true);
        },
        stageSkipped: (stage) => active.tracker.skip(stage),
        preview: (p) => active.previews.push(p),
        log: (level, message) => this.jobLog(id, level, message),
        taken: (worker) => {
          const job = this.current(id);
          if (job.state !== 'queued' && job.worker === worker) return;
          this.update(id, { state: 'running', worker }, { persist: true }).catch(stopUnrecorded);
          this.jobLog(id, 'info', `taken by the worker ${worker}`);
        },
        requeued: () => {
          const job = this.current(id);
          if (job.state !== 'running') return;
          this.update(id, { state: 'queued', progress: { ...job.progress, eta_s: null } }, { persist: true }).catch(stopUnrecorded);
          this.jobLog(id, 'info', `back in the queue${job.worker === undefined ? '' : ` (the worker ${job.worker} let it go)`}`);
        },
      },
    })
      .then(
        (result) => this.succeed(id, active, result),
        (err: unknown) => this.fail(id, active, err),
      )
      .catch((err: unknown) => this.logSink('error', `job ${id}: could not record the outcome: ${err instanceof Error ? err.stack : err}`))
      .finally(() => {
        this.active.delete(id);
        this.pump();
      });
  }

  private async succeed(id: string, active: ActiveJob, result: JobResult): Promise<void> {
    active.previews.flush();
    if (this.outputFileMode !== undefined) {
      for (const file of [result.output_path, ...result.preview_paths]) if (file !== null) fs.chmodSync(file, this.outputFileMode);
    }
    const { stage_done, stage_total } = active.tracker.snapshot();
    await this.finishOrRetry(id, 'succeeded', { result, progress: { overall: 1, stage_done, stage_total, eta_s: 0 } });
    this.jobLog(id, 'info', `succeeded: ${result.output_path ?? `${result.preview_paths.length} preview images`}`);
  }

  private async fail(id: string, active: ActiveJob, err: unknown): Promise<void> {
    active.previews.flush();
    const reason: unknown = active.controller.signal.aborted ? active.controller.signal.reason : null;
    // Wait for the job's queued changes: a refused one puts its record back to the log's.
    await this.outbox;
    const job = this.current(id);
    const where = job.stage ?? 'start';
    if (reason instanceof StopReason && reason.kind === 'shutdown') {
      // Not a failure: resumed from its last completed stage on the next start (if this
      // cannot be recorded, the log says `running` and the start-up recovery does the same).
      if (job.state === 'running') {
        await this.update(id, { state: 'queued', progress: { ...job.progress, eta_s: null } }, { persist: true }).catch(() => {});
      }
      this.jobLog(id, 'info', `paused during ${where}: ${reason.message}`);
      return;
    }
    this.removeLeftovers(job);
    if (reason instanceof StopReason && reason.kind === 'storage') {
      await this.finishOrRetry(id, 'failed', { error: { code: 'disk_full', message: reason.message } });
      this.jobLog(id, 'error', `failed during ${where}: ${reason.message}`);
      return;
    }
    if (reason !== null) {
      // A job handed on (the farm's queue) may be canceled before any worker took it.
      const when = job.state === 'queued' ? 'canceled while queued' : `canceled during ${where}`;
      await this.finishOrRetry(id, 'canceled', { error: { code: 'canceled', message: when } });
      this.jobLog(id, 'info', when);
      return;
    }
    const error = classifyFailure(err);
    await this.finishOrRetry(id, 'failed', { error });
    this.jobLog(id, 'error', `failed during ${where}: ${error.message}`);
    if (error.code === 'internal' && err instanceof Error && err.stack) this.logSink('debug', err.stack);
  }

  /** Moves a job to a final state, persists it and drops its work folder. */
  private async finish(id: string, state: JobState, patch: Partial<JobRecord>): Promise<void> {
    const job = this.current(id);
    const progress = state === 'succeeded' ? patch.progress! : { ...job.progress, eta_s: null };
    await this.update(id, { ...patch, state, progress }, { persist: true });
    fs.rmSync(this.jobDir(id), { recursive: true, force: true });
  }

  /**
   * finish(), or, when the log cannot take it (full disk), the job keeps the record the log
   * has and its outcome is tried again every few seconds (and on cancel); meanwhile no queued
   * job starts.
   */
  private async finishOrRetry(id: string, state: JobState, patch: Partial<JobRecord>): Promise<void> {
    const attempt = () => this.finish(id, state, patch);
    try {
      await attempt();
    } catch (err) {
      this.logSink('error', `job ${id}: could not record that it ${state === 'succeeded' ? 'succeeded' : `is ${state}`} (${err instanceof Error ? err.message : err}); trying again every ${UNRECORDED_RETRY_MS / 1000} s`);
      this.unrecorded.set(id, attempt);
      this.unrecordedTimer ??= setInterval(() => void this.retryUnrecorded(), UNRECORDED_RETRY_MS).unref();
    }
  }

  private async retryUnrecorded(): Promise<void> {
    for (const id of this.unrecorded.keys()) {
      try {
        await this.recordOutcome(id);
      } catch {
        return;
      }
    }
  }

  /** Records a stopped job's outcome; once none is left unrecorded, the queue moves again. */
  private async recordOutcome(id: string): Promise<void> {
    await this.unrecorded.get(id)?.();
    this.unrecorded.delete(id);
    this.logSink('info', `job ${id}: outcome recorded`);
    if (this.unrecorded.size > 0) return;
    clearInterval(this.unrecordedTimer);
    this.unrecordedTimer = undefined;
    this.pump();
  }

  private removeLeftovers(job: JobRecord): void {
    const base = outputBaseName(job.request.source_path, job.request.prompt, job.id);
    for (const name of removeJobLeftovers(this.outputDir, base)) this.jobLog(job.id, 'debug', `removed partial output ${name}`);
  }

  /**
   * Applies a change to a job's record. State changes are checked against the state machine.
   * persist: fsync'd to the log before the `job.state` event goes out; otherwise (progress
   * ticks) kept in memory until the next persisted change.
   */
  private update(id: string, patch: Partial<JobRecord>, { persist }: { persist: boolean }): Promise<void> {
    const stored = this.store.latest(id)!;
    if (patch.state !== undefined && patch.state !== stored.job.state) assertTransition(id, stored.job.state, patch.state);
    const job: JobRecord = { ...stored.job, ...patch, updated_at: new Date().toISOString() };
    if (!persist) {
      this.store.setVolatile(job);
      return Promise.resolve();
    }
    const committed = this.store.put(job, stored.meta satisfies JobMeta);
    this.announce({ type: 'job.state', job }, committed);
    return committed;
  }

  private emitProgress(id: string, active: ActiveJob, force: boolean): void {
    const now = performance.now();
    if (!force && now - active.lastProgressAt < PROGRESS_INTERVAL_MS) return;
    active.lastProgressAt = now;
    const job = this.current(id);
    if (job.stage === null) return;
    const p = job.progress;
    this.announce({
      type: 'job.progress',
      job_id: id,
      stage: job.stage,
      done: p.stage_done,
      total: p.stage_total,
      eta_s: p.eta_s,
      overall: p.overall,
    });
  }

  private emitPreview(id: string, p: PipelinePreview): void {
    const data = Buffer.from(p.data).toString('base64');
    if (data.length > MAX_PREVIEW_BASE64) {
      this.jobLog(id, 'warn', `preview of frame ${p.index} dropped: ${p.data.length} bytes is over the event size limit`);
      return;
    }
    this.announce({
      type: 'job.preview',
      job_id: id,
      index: p.index,
      mime: p.mime,
      data,
      width: p.width,
      height: p.height,
    });
  }

  private jobDir(id: string): string {
    return path.join(this.workDir, id);
  }

  /** Work folders of jobs that are gone or finished (e.g. the daemon died while cleaning up). */
  private removeOrphanWorkDirs(): void {
    const keep = new Set(this.queue);
    for (const name of fs.readdirSync(this.workDir)) {
      if (!keep.has(name)) fs.rmSync(path.join(this.workDir, name), { recursive: true, force: true });
    }
  }

  private assertStarted(): void {
    if (this.state !== 'started') throw new Error(`the job service is ${this.state === 'new' ? 'not started' : 'stopped'}`);
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number >= 1, got ${value}`);
  return value;
}

