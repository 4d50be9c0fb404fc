// JobService: the durable queue. Submissions are validated, persisted (fsync'd) and queued
// FIFO; up to `concurrency` jobs run at once through runner.ts; every change is persisted
// before it is announced, and announced as the shared WebSocket event types.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MAX_PREVIEW_BASE64, type EventOf, type LogLevel, type ServerEvent, type ServerEventType } from '../../shared/events.ts';
import {
  JobRequest,
  type JobRecord,
  type JobRequestInput,
  type JobResult,
  type JobSettings,
  type JobState,
} from '../../shared/jobs.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import { parseTicks } from '../../shared/ticks.ts';
import { MediaError } from '../media/errors.ts';
import type { MediaInfo } from '../media/types.ts';
import type { PipelinePreview } from '../pipeline/interface.ts';
import type { DeleteOptions, JobServiceApi, JobServiceOptions, SubmitResult, Unsubscribe } from './api.ts';
import { JobServiceError } from './errors.ts';
import { classifyFailure } from './failure.ts';
import { requestFingerprint } from './idempotency.ts';
import { JobStore, type JobMeta } from './job_store.ts';
import { loadMedia, type MediaApi } from './media_api.ts';
import { outputBaseName, removeJobLeftovers, removeOutputFiles } from './output_files.ts';
import { DEFAULT_PIPELINE_MODULE, PipelineHost } from './pipeline_host.ts';
import { PresetStore } from './presets_store.ts';
import { PreviewThrottle } from './preview_throttle.ts';
import { ProgressTracker } from './progress.ts';
import { recoverRunningJobs } from './recovery.ts';
import { runJob } from './runner.ts';
import { assertTransition, isFinished } from './state_machine.ts';
import { ChildRegistry, installChildRegistry, uninstallChildRegistry } from '../util/child_registry.ts';

/** How long cancel waits for a running job to stop before answering with its current state. */
const CANCEL_REPLY_WAIT_MS = 50;

/** Progress events per job are sent at most this often (the last of a stage always). */
const PROGRESS_INTERVAL_MS = 100;

/** Why a running job's signal fired. */
class StopReason extends Error {
  constructor(
    readonly kind: 'cancel' | 'shutdown',
    message: string,
  ) {
    super(message);
  }
}

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
  private readonly probeOnSubmit: boolean;
  private readonly checkSettings: ((settings: JobSettings) => Promise<void>) | undefined;
  private readonly previewIntervalMs: number;
  private readonly logSink: (level: LogLevel, message: string) => void;
  private media: MediaApi | undefined;
  private readonly queue: string[] = [];
  private readonly active = new Map<string, ActiveJob>();
  private readonly listeners = new Set<(event: ServerEvent) => void>();
  private state: 'new' | 'started' | 'closing' | 'closed' = 'new';
  private children: ChildRegistry | undefined;

  constructor(options: JobServiceOptions & JobServiceTestOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.outputDir = path.resolve(options.outputDir);
    this.workDir = path.resolve(options.workDir ?? path.join(this.dataDir, 'work'));
    this.concurrency = positiveInt(options.concurrency ?? 1, 'concurrency');
    this.maxAttempts = positiveInt(options.maxAttempts ?? 3, 'maxAttempts');
    this.pipelines = new PipelineHost(options.pipelineModule ?? DEFAULT_PIPELINE_MODULE, { abortGraceMs: options.abortGraceMs });
    this.probeOnSubmit = options.probeOnSubmit ?? true;
    this.checkSettings = options.checkSettings;
    this.previewIntervalMs = options.previewIntervalMs ?? 500;
    this.logSink = options.log ?? (() => {});
    this.media = options.media;
    const jobsDir = path.join(this.dataDir, 'jobs');
    this.store = new JobStore(jobsDir);
    this.presets = new PresetStore(jobsDir);
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('JobService.start() can be called once');
    this.media ??= await loadMedia();
    fs.mkdirSync(this.outputDir, { recursive: true });
    fs.mkdirSync(this.workDir, { recursive: true });
    const { warnings } = this.store.open();
    for (const w of warnings) this.logSink('warn', w);
    try {
      this.presets.load();
    } catch (err) {
      this.store.close();
      throw err;
    }
    // Under the store's lock: the recorded children are a dead daemon's, never a live one's.
    this.children = new ChildRegistry(path.join(this.dataDir, 'children'));
    for (const child of this.children.killLeftovers()) this.logSink('warn', `killed ${child}, left running by a daemon that did not stop cleanly`);
    installChildRegistry(this.children);
    const now = new Date().toISOString();
    for (const r of recoverRunningJobs(this.store.all(), this.maxAttempts, now)) {
      this.store.put(r.job, r.meta);
      this.logSink(r.job.state === 'interrupted' ? 'warn' : 'info', `job ${r.job.id}: ${r.note}`);
      // What its last attempt was writing (an encode's `.partial` file) is of no use to anyone.
      this.removeLeftovers(r.job);
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
    if (wasStarted) this.store.close();
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

  snapshot(): JobRecord[] {
    const running = this.list().filter((j) => j.state === 'running');
    return [...running, ...this.queue.map((id) => this.store.get(id)!.job)];
  }

  queueCounts(): { queued: number; running: number } {
    return { queued: this.queue.length, running: this.active.size };
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

  private jobLog(id: string, level: LogLevel, message: string): void {
    this.logSink(level, `job ${id.slice(0, 8)}: ${message}`);
    this.emit({ type: 'job.log', job_id: id, level, message, time: new Date().toISOString() });
  }

  // -------------------------------------------------------------------------------------------
  // Submit

  async submit(input: JobRequestInput): Promise<SubmitResult> {
    this.assertStarted();
    const request = JobRequest.parse(input);
    const fingerprint = request.idempotency_key === undefined ? null : requestFingerprint(request);
    const replay = this.idempotentReplay(request, fingerprint);
    if (replay) return replay;

    let preset;
    if (request.preset !== undefined) {
      preset = this.presets.get(request.preset);
      if (!preset) throw new JobServiceError('bad_request', `no preset named "${request.preset}"`, { field: 'preset' });
    }
    const settings = resolveJobSettings(request, preset);
    await this.checkSettings?.(settings);
    if (this.probeOnSubmit) await this.checkSource(request.source_path, settings);
    this.assertStarted();
    // The key may have been used by a submission that finished while this one was probing.
    const raced = this.idempotentReplay(request, fingerprint);
    if (raced) return raced;

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
    this.store.put(job, { fingerprint, crashStages: [] });
    this.queue.push(job.id);
    this.emit({ type: 'job.state', job });
    this.jobLog(job.id, 'info', `queued (position ${this.queue.length})`);
    this.pump();
    return { job: this.get(job.id)!, created: true };
  }

  private idempotentReplay(request: JobRequest, fingerprint: string | null): SubmitResult | null {
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
    return { job: existing.job, created: false };
  }

  /** The source must be a readable video and the range must start inside it. */
  private async checkSource(sourcePath: string, settings: JobSettings): Promise<void> {
    let info: MediaInfo;
    try {
      info = await this.media!.probe(sourcePath);
    } catch (err) {
      if (err instanceof MediaError) throw new JobServiceError('media_invalid', err.message, { field: 'source_path', cause: err });
      throw err;
    }
    const duration = parseTicks(info.video.durationTicks);
    if (parseTicks(settings.start_ticks) >= duration) {
      throw new JobServiceError(
        'media_invalid',
        `the range starts at or after the end of "${sourcePath}" (${info.video.durationSeconds.toFixed(3)} s long)`,
        { field: 'range' },
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Cancel and delete

  async cancel(id: string): Promise<JobRecord> {
    const stored = this.requireJob(id);
    const job = stored.job;
    if (job.state === 'queued') {
      this.queue.splice(this.queue.indexOf(id), 1);
      this.finish(id, 'canceled', { error: { code: 'canceled', message: 'canceled while queued' } });
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
      for (const refused of removeOutputFiles(this.outputDir, files)) {
        this.logSink('warn', `job ${id}: not deleting ${refused}: it is not inside the output folder ${this.outputDir}`);
      }
    }
    this.store.delete(id);
    this.emit({ type: 'job.deleted', job_id: id });
  }

  private requireJob(id: string) {
    const stored = this.store.get(id);
    if (!stored) throw new JobServiceError('not_found', `no job with id "${id}"`);
    return stored;
  }

  // -------------------------------------------------------------------------------------------
  // Running

  private pump(): void {
    while (this.state === 'started' && this.active.size < this.concurrency && this.queue.length > 0) {
      this.startJob(this.queue.shift()!);
    }
  }

  private startJob(id: string): void {
    const attempt = this.store.get(id)!.job.attempts + 1;
    this.update(id, { state: 'running', attempts: attempt, error: null }, { persist: true });
    const controller = new AbortController();
    const active: ActiveJob = {
      controller,
      tracker: new ProgressTracker(),
      previews: new PreviewThrottle(this.previewIntervalMs, (p) => this.emitPreview(id, p)),
      lastProgressAt: -Infinity,
      done: Promise.resolve(),
    };
    this.active.set(id, active);
    this.jobLog(id, 'info', `started (attempt ${attempt})`);
    active.done = runJob({
      job: this.get(id)!,
      jobDir: this.jobDir(id),
      outputDir: this.outputDir,
      pipelines: this.pipelines,
      media: this.media!,
      signal: controller.signal,
      events: {
        stageStart: (stage) => {
          const progress = active.tracker.start(stage);
          this.update(id, { stage, progress }, { persist: true });
          this.emitProgress(id, active, true);
        },
        progress: (stage, done, total, doneBefore) => {
          this.update(id, { progress: active.tracker.update(stage, done, total, doneBefore) }, { persist: false });
          this.emitProgress(id, active, done >= total);
        },
        stageEnd: (stage) => {
          const seconds = active.tracker.finish(stage);
          const job = this.get(id)!;
          // Persisted with the next stage's start or the final state (one fsync per stage).
          this.update(id, { timings: { ...job.timings, [stage]: seconds }, progress: active.tracker.snapshot() }, { persist: false });
          this.emitProgress(id, active, true);
        },
        stageSkipped: (stage) => active.tracker.skip(stage),
        preview: (p) => active.previews.push(p),
        log: (level, message) => this.jobLog(id, level, message),
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

  private succeed(id: string, active: ActiveJob, result: JobResult): void {
    active.previews.flush();
    const { stage_done, stage_total } = active.tracker.snapshot();
    this.finish(id, 'succeeded', { result, progress: { overall: 1, stage_done, stage_total, eta_s: 0 } });
    this.jobLog(id, 'info', `succeeded: ${result.output_path ?? `${result.preview_paths.length} preview images`}`);
  }

  private fail(id: string, active: ActiveJob, err: unknown): void {
    active.previews.flush();
    const reason: unknown = active.controller.signal.aborted ? active.controller.signal.reason : null;
    const job = this.get(id)!;
    const where = job.stage ?? 'start';
    if (reason instanceof StopReason && reason.kind === 'shutdown') {
      // Not a failure: resumed from its last completed stage on the next start.
      this.update(id, { state: 'queued', progress: { ...job.progress, eta_s: null } }, { persist: true });
      this.jobLog(id, 'info', `paused during ${where}: ${reason.message}`);
      return;
    }
    this.removeLeftovers(job);
    if (reason !== null) {
      this.finish(id, 'canceled', { error: { code: 'canceled', message: `canceled during ${where}` } });
      this.jobLog(id, 'info', `canceled during ${where}`);
      return;
    }
    const error = classifyFailure(err);
    this.finish(id, 'failed', { error });
    this.jobLog(id, 'error', `failed during ${where}: ${error.message}`);
    if (error.code === 'internal' && err instanceof Error && err.stack) this.logSink('debug', err.stack);
  }

  /** Moves a job to a final state, persists it and drops its work folder. */
  private finish(id: string, state: JobState, patch: Partial<JobRecord>): void {
    const job = this.get(id)!;
    const progress = state === 'succeeded' ? patch.progress! : { ...job.progress, eta_s: null };
    this.update(id, { ...patch, state, progress }, { persist: true });
    fs.rmSync(this.jobDir(id), { recursive: true, force: true });
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
  private update(id: string, patch: Partial<JobRecord>, { persist }: { persist: boolean }): void {
    const stored = this.store.get(id)!;
    if (patch.state !== undefined && patch.state !== stored.job.state) assertTransition(id, stored.job.state, patch.state);
    const job: JobRecord = { ...stored.job, ...patch, updated_at: new Date().toISOString() };
    if (!persist) {
      this.store.setVolatile(job);
      return;
    }
    this.store.put(job, stored.meta satisfies JobMeta);
    this.emit({ type: 'job.state', job });
  }

  private emitProgress(id: string, active: ActiveJob, force: boolean): void {
    const now = performance.now();
    if (!force && now - active.lastProgressAt < PROGRESS_INTERVAL_MS) return;
    active.lastProgressAt = now;
    const job = this.get(id)!;
    if (job.stage === null) return;
    const p = job.progress;
    this.emit({
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
    this.emit({
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

