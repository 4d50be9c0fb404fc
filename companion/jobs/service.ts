// JobService: the durable queue. Submissions are validated (submission.ts), persisted (fsync'd)
// and queued FIFO; up to `concurrency` jobs run at once through runner.ts, each through its
// active job adapter (active_job.ts); every change is persisted before it is announced, and
// announced as the shared WebSocket event types, in order (event_outbox.ts).
// When the data disk is full a submission is refused (507 disk_full) and a running job whose
// change cannot be recorded is stopped; the records always match the job log.
import fs from 'node:fs';
import path from 'node:path';
import type { EventOf, LogLevel, ServerEvent, ServerEventType } from '../../shared/events.ts';
import type { JobRequest, JobRecord, JobResult, JobState } from '../../shared/jobs.ts';
import { ensurePrivateDir } from '../config.ts';
import type { MediaInfo } from '../media/types.ts';
import { ActiveJob, type ActiveJobHost } from './active_job.ts';
import type { DeleteOptions, JobServiceApi, JobServiceOptions, JobServiceTestOptions, SubmitResult, Unsubscribe } from './api.ts';
import { JobServiceError, storageError } from './errors.ts';
import { EventOutbox } from './event_outbox.ts';
import { requestFingerprint } from './idempotency.ts';
import { JobStore, type JobMeta } from './job_store.ts';
import { loadMedia, type MediaApi } from './media_api.ts';
import { outputBaseName, removeJobFiles, removeJobLeftovers } from './output_files.ts';
import { DEFAULT_PIPELINE_MODULE, PipelineHost } from '../pipeline_process/host.ts';
import { PresetStore } from './presets_store.ts';
import { cachedProbe } from './probe_cache.ts';
import { recordRecoveries, removeOrphanWorkDirs } from './recovery.ts';
import { runJob, type RunJobContext } from './runner.ts';
import { StopReason } from './stop_reason.ts';
import { UNRECORDED_RETRY_MS, UnrecordedOutcomes } from './unrecorded_outcomes.ts';
import { newJobRecord, Submission } from './submission.ts';
import { assertTransition, isFinished } from './state_machine.ts';
import { ChildRegistry, installChildRegistry, uninstallChildRegistry } from '../util/child_registry.ts';

/** How long cancel waits for a running job to stop before answering with its current state. */
const CANCEL_REPLY_WAIT_MS = 50;

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
  private readonly forget: ((id: string) => Promise<void>) | undefined;
  private readonly defaultModel: string | undefined;
  private readonly previewIntervalMs: number;
  private readonly now: (() => number) | undefined;
  private readonly logSink: (level: LogLevel, message: string) => void;
  private media: MediaApi | undefined;
  private probeForSubmit: (file: string) => Promise<MediaInfo> = () => Promise.reject(new Error('the job service is not started'));
  private readonly queue: string[] = [];
  private readonly active = new Map<string, ActiveJob>();
  private readonly events: EventOutbox;
  private readonly submission: Submission;
  private readonly activeJobHost: ActiveJobHost;
  /** Finished jobs whose outcome the log could not take yet (full disk), retried by a timer. */
  private readonly unrecorded: UnrecordedOutcomes;
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
    this.forget = options.forget;
    this.defaultModel = options.defaultModel;
    this.previewIntervalMs = options.previewIntervalMs ?? 500;
    this.now = options.now;
    this.logSink = options.log ?? (() => {});
    this.media = options.media;
    this.jobsDir = path.join(this.dataDir, 'jobs');
    this.store = new JobStore(this.jobsDir, { warn: (m) => this.logSink('warn', m), io: options.logIo });
    this.presets = new PresetStore(this.jobsDir);
    this.events = new EventOutbox(this.logSink);
    this.unrecorded = new UnrecordedOutcomes(this.logSink, () => this.pump());
    this.submission = new Submission({
      store: this.store,
      presets: this.presets,
      defaultModel: this.defaultModel,
      checkSettings: options.checkSettings,
      probe: (options.probeOnSubmit ?? true) ? (file) => this.probeForSubmit(file) : undefined,
      storageError: (err, what) => this.storageError(err, what),
    });
    this.activeJobHost = {
      current: (id) => this.current(id),
      update: (id, patch, opts) => this.update(id, patch, opts),
      announce: (event) => this.announce(event),
      jobLog: (id, level, message) => this.jobLog(id, level, message),
      storageError: (err, what) => this.storageError(err, what),
      finishOrRetry: (id, state, patch) => this.finishOrRetry(id, state, patch),
      removeLeftovers: (job) => this.removeLeftovers(job),
      settled: () => this.events.settled(),
      logSink: this.logSink,
      outputFileMode: options.outputFileMode,
    };
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
      await recordRecoveries({
        store: this.store, maxAttempts: this.maxAttempts, followsOnly: this.queuedUntilTaken, log: this.logSink,
        storageError: (err, what) => this.storageError(err, what), removeLeftovers: (job) => this.removeLeftovers(job),
      });
    } catch (err) {
      uninstallChildRegistry(this.children);
      await this.store.close();
      throw err;
    }
    for (const { job } of this.store.all()) if (job.state === 'queued') this.queue.push(job.id);
    removeOrphanWorkDirs(this.workDir, this.queue);
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
    this.unrecorded.close();
    await this.events.settled();
    if (wasStarted) await this.store.close();
    if (this.children) uninstallChildRegistry(this.children);
    this.events.clear();
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

  latestPreviews(): EventOf<'job.preview'>[] {
    return this.snapshot().flatMap((job) => this.active.get(job.id)?.latestPreview ?? []);
  }

  queueCounts(): { queued: number; running: number } {
    const handedOn = [...this.active.keys()].filter((id) => this.current(id).state === 'queued').length;
    return { queued: this.queue.length + handedOn, running: this.active.size - handedOn };
  }

  // -------------------------------------------------------------------------------------------
  // Events

  on<T extends ServerEventType>(type: T, listener: (event: EventOf<T>) => void): Unsubscribe {
    return this.events.on(type, listener);
  }

  onEvent(listener: (event: ServerEvent) => void): Unsubscribe {
    return this.events.onEvent(listener);
  }

  /** Sends an event once `after` (the commit it announces) is durable, in order (EventOutbox). */
  private announce(event: ServerEvent, after?: Promise<void>): void {
    this.events.announce(event, after);
  }

  private jobLog(id: string, level: LogLevel, message: string): void {
    this.logSink(level, `job ${id.slice(0, 8)}: ${message}`);
    this.announce({ type: 'job.log', job_id: id, level, message, time: new Date().toISOString() });
  }

  /** A failed write of the job log, as what the caller answers (storageError). */
  private storageError(err: unknown, what: string): unknown {
    return storageError(err, this.jobsDir, what);
  }

  // -------------------------------------------------------------------------------------------
  // Submit

  async submit(request: JobRequest): Promise<SubmitResult> {
    this.assertStarted();
    const fingerprint = request.idempotency_key === undefined ? null : requestFingerprint(request);
    const earlier = this.submission.replayEarlier(request, fingerprint);
    if (earlier) return earlier;
    const settings = await this.submission.settings(request);
    this.assertStarted();
    // The key may have been used by a submission that finished while this one was probing.
    const raced = this.submission.replayEarlier(request, fingerprint);
    if (raced) return raced;

    const job = newJobRecord(request, settings);
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
      await this.unrecorded.record(id).catch((err: unknown) => {
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
    this.forgetElsewhere(id);
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
    const active = new ActiveJob(id, this.activeJobHost, this.previewIntervalMs, this.now);
    const start = this.queuedUntilTaken ? { attempts: attempt, error: null } : { state: 'running' as const, attempts: attempt, error: null };
    this.update(id, start, { persist: true }).catch(active.stopUnrecorded);
    this.active.set(id, active);
    this.jobLog(id, 'info', this.queuedUntilTaken ? `handed on (attempt ${attempt})` : `started (attempt ${attempt})`);
    active.done = this.execute({
      job: this.withModel(this.current(id)),
      jobDir: this.jobDir(id),
      outputDir: this.outputDir,
      pipelines: this.pipelines,
      media: this.media!,
      signal: active.controller.signal,
      events: active.events(),
    })
      .then(
        (result) => active.succeed(result),
        (err: unknown) => active.fail(err),
      )
      .catch((err: unknown) => this.logSink('error', `job ${id}: could not record the outcome: ${err instanceof Error ? err.stack : err}`))
      .finally(() => {
        this.active.delete(id);
        this.pump();
      });
  }

  /** Moves a job to a final state, persists it and drops its work folder. */
  private async finish(id: string, state: JobState, patch: Partial<JobRecord>): Promise<void> {
    const job = this.current(id);
    const progress = state === 'succeeded' ? patch.progress! : { ...job.progress, eta_s: null };
    await this.update(id, { ...patch, state, progress }, { persist: true });
    fs.rmSync(this.jobDir(id), { recursive: true, force: true });
    this.forgetElsewhere(id);
  }

  /** JobServiceOptions.forget: the job's outcome is recorded, or its record deleted. */
  private forgetElsewhere(id: string): void {
    this.forget?.(id).catch((err: unknown) => {
      this.logSink('warn', `job ${id.slice(0, 8)}: could not remove what the farm keeps of it (it expires by itself): ${err instanceof Error ? err.message : err}`);
    });
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
      this.unrecorded.add(id, attempt);
    }
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

  private jobDir(id: string): string {
    return path.join(this.workDir, id);
  }

  private assertStarted(): void {
    if (this.state !== 'started') throw new Error(`the job service is ${this.state === 'new' ? 'not started' : 'stopped'}`);
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number >= 1, got ${value}`);
  return value;
}

