// A job's attempt as the job service runs it (the active job adapter): its abort controller,
// progress tracker and preview throttle; the RunnerEvents its executor reports through, turned
// into record changes and job.progress / job.preview / job.log events; and the attempt's end,
// turned into the job's next state.
import { MAX_PREVIEW_BASE64, type EventOf, type LogLevel, type ServerEvent } from '../../shared/events.ts';
import fs from 'node:fs';
import type { JobRecord, JobResult, JobState } from '../../shared/jobs.ts';
import type { PipelinePreview } from '../pipeline/interface.ts';
import { classifyFailure } from './failure.ts';
import { PreviewThrottle } from './preview_throttle.ts';
import { ProgressTracker } from './progress.ts';
import type { RequeueCause, RunnerEvents } from './runner.ts';
import { StopReason } from './stop_reason.ts';

/** Progress events per job are sent at most this often (the last of a stage always). */
const PROGRESS_INTERVAL_MS = 100;

/** What an active job needs of the job service. */
export interface ActiveJobHost {
  /** The newest record of a job, including changes still on their way to the log. */
  current(id: string): JobRecord;
  /** Applies a change to the record; persist: fsync'd before its job.state event. */
  update(id: string, patch: Partial<JobRecord>, options: { persist: boolean }): Promise<void>;
  announce(event: ServerEvent): void;
  jobLog(id: string, level: LogLevel, message: string): void;
  storageError(err: unknown, what: string): unknown;
  /** Moves a job to a final state, or keeps it to be recorded later when the log cannot take it. */
  finishOrRetry(id: string, state: JobState, patch: Partial<JobRecord>): Promise<void>;
  /** Removes what an attempt was writing (an encode's `.partial` file). */
  removeLeftovers(job: JobRecord): void;
  /** Resolves once the events (and their commits) queued so far are settled. */
  settled(): Promise<void>;
  logSink(level: LogLevel, message: string): void;
  /** Mode the finished render and previews are given (JobServiceOptions.outputFileMode). */
  outputFileMode: number | undefined;
}

export class ActiveJob {
  readonly controller = new AbortController();
  readonly tracker = new ProgressTracker();
  readonly previews: PreviewThrottle<PipelinePreview>;
  /** Settles once the attempt's outcome is recorded (or could not be). */
  done: Promise<void> = Promise.resolve();
  /** The last job.preview sent, for a client that connects later (JobService.latestPreviews). */
  latestPreview: EventOf<'job.preview'> | undefined;
  // Unlike previews, progress ticks between sends are dropped, not delayed: the forced one
  // at each stage's start and end carries the figures that matter.
  private lastProgressAt = -Infinity;

  constructor(
    readonly id: string,
    private readonly host: ActiveJobHost,
    previewIntervalMs: number,
    now?: () => number,
  ) {
    this.previews = new PreviewThrottle(previewIntervalMs, (p) => this.emitPreview(p), now);
  }

  /** A change the log cannot take stops the job: it must not run on unrecorded. */
  readonly stopUnrecorded = (err: unknown): void => {
    const why = this.host.storageError(err, 'the job was stopped');
    this.controller.abort(new StopReason('storage', why instanceof Error ? why.message : String(why)));
  };

  /** The events handed to the executor for this attempt. */
  events(): RunnerEvents {
    const { id, host, tracker } = this;
    return {
      stageStart: (stage) => {
        const progress = tracker.start(stage);
        host.update(id, { stage, progress }, { persist: true }).catch(this.stopUnrecorded);
        this.emitProgress(true);
      },
      progress: (progress) => {
        void host.update(id, { progress: tracker.update(progress) }, { persist: false });
        this.emitProgress(progress.done >= progress.total);
      },
      stageEnd: (stage) => {
        const seconds = tracker.finish(stage);
        const job = host.current(id);
        // Persisted with the next stage's start or the final state (one fsync per stage).
        void host.update(id, { timings: { ...job.timings, [stage]: seconds }, progress: tracker.snapshot() }, { persist: false });
        this.emitProgress(true);
      },
      stageSkipped: (stage) => tracker.skip(stage),
      preview: (p) => this.previews.push(p),
      log: (level, message) => host.jobLog(id, level, message),
      taken: (worker) => {
        const job = host.current(id);
        if (job.state !== 'queued' && job.worker === worker) return;
        host.update(id, { state: 'running', worker }, { persist: true }).catch(this.stopUnrecorded);
        host.jobLog(id, 'info', `taken by the worker ${worker}`);
      },
      requeued: (cause) => {
        const job = host.current(id);
        if (job.state !== 'running') return;
        host.update(id, { state: 'queued', progress: { ...job.progress, eta_s: null } }, { persist: true }).catch(this.stopUnrecorded);
        host.jobLog(id, cause === 'silent' ? 'warn' : 'info', requeuedMessage(job.worker, cause));
      },
    };
  }

  /** Records the attempt's result: the job succeeded. */
  async succeed(result: JobResult): Promise<void> {
    this.previews.flush();
    if (this.host.outputFileMode !== undefined) {
      for (const file of [result.output_path, ...result.preview_paths]) if (file !== null) fs.chmodSync(file, this.host.outputFileMode);
    }
    const { stage_done, stage_total } = this.tracker.snapshot();
    await this.host.finishOrRetry(this.id, 'succeeded', { result, progress: { overall: 1, stage_done, stage_total, eta_s: 0 } });
    this.host.jobLog(this.id, 'info', `succeeded: ${result.output_path ?? `${result.preview_paths.length} preview images`}`);
  }

  /** Records how the attempt ended without a result: paused, canceled or failed. */
  async fail(err: unknown): Promise<void> {
    this.previews.flush();
    const reason: unknown = this.controller.signal.aborted ? this.controller.signal.reason : null;
    // Wait for the job's queued changes: a refused one puts its record back to the log's.
    await this.host.settled();
    const job = this.host.current(this.id);
    const where = job.stage ?? 'start';
    if (reason instanceof StopReason && reason.kind === 'shutdown') {
      // Not a failure: resumed from its last completed stage on the next start (if this
      // cannot be recorded, the log says `running` and the start-up recovery does the same).
      if (job.state === 'running') {
        await this.host.update(this.id, { state: 'queued', progress: { ...job.progress, eta_s: null } }, { persist: true }).catch(() => {});
      }
      this.host.jobLog(this.id, 'info', `paused during ${where}: ${reason.message}`);
      return;
    }
    this.host.removeLeftovers(job);
    if (reason instanceof StopReason && reason.kind === 'storage') {
      await this.host.finishOrRetry(this.id, 'failed', { error: { code: 'disk_full', message: reason.message } });
      this.host.jobLog(this.id, 'error', `failed during ${where}: ${reason.message}`);
      return;
    }
    if (reason !== null) {
      // A job handed on (the farm's queue) may be canceled before any worker took it.
      const when = job.state === 'queued' ? 'canceled while queued' : `canceled during ${where}`;
      await this.host.finishOrRetry(this.id, 'canceled', { error: { code: 'canceled', message: when } });
      this.host.jobLog(this.id, 'info', when);
      return;
    }
    const error = classifyFailure(err);
    await this.host.finishOrRetry(this.id, 'failed', { error });
    this.host.jobLog(this.id, 'error', `failed during ${where}: ${error.message}`);
    if (error.code === 'internal' && err instanceof Error && err.stack) this.host.logSink('debug', err.stack);
  }

  private emitProgress(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastProgressAt < PROGRESS_INTERVAL_MS) return;
    this.lastProgressAt = now;
    const job = this.host.current(this.id);
    if (job.stage === null) return;
    const p = job.progress;
    this.host.announce({
      type: 'job.progress',
      job_id: this.id,
      stage: job.stage,
      done: p.stage_done,
      total: p.stage_total,
      eta_s: p.eta_s,
      overall: p.overall,
    });
  }

  private emitPreview(p: PipelinePreview): void {
    const data = Buffer.from(p.data).toString('base64');
    if (data.length > MAX_PREVIEW_BASE64) {
      this.host.jobLog(this.id, 'warn', `preview of frame ${p.index} dropped: ${p.data.length} bytes is over the event size limit`);
      return;
    }
    this.latestPreview = {
      type: 'job.preview',
      job_id: this.id,
      index: p.index,
      mime: p.mime,
      data,
      width: p.width,
      height: p.height,
    };
    this.host.announce(this.latestPreview);
  }
}

function requeuedMessage(worker: string | undefined, cause: RequeueCause): string {
  const who = worker === undefined ? 'its worker' : `the worker ${worker}`;
  return cause === 'silent'
    ? `back in the queue: ${who} stopped (no worker's heartbeat lists the job); it waits for a worker`
    : `back in the queue (${who} let it go)`;
}
