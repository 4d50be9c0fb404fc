// The job service's public surface, for the HTTP/WS server and the CLI. Implemented by
// JobService (service.ts).
import type { EventOf, ServerEvent, ServerEventType } from '../../shared/events.ts';
import type { JobRecord, JobRequest, JobResult, JobSettings } from '../../shared/jobs.ts';
import type { Preset, PresetBody } from '../../shared/presets.ts';
import type { LogLevel } from '../../shared/events.ts';
import type { LogIo } from './jsonl_log.ts';
import type { MediaApi } from './media_api.ts';
import type { RunJobContext } from './runner.ts';

export interface JobServiceOptions {
  /** Daemon data folder; the job log and user presets live in `<dataDir>/jobs/`. */
  dataDir: string;
  /** The only folder renders are written to (created if missing). */
  outputDir: string;
  /** Scratch space for extracted/edited frames; default `<dataDir>/work`. */
  workDir?: string;
  /** Jobs run at the same time; default 1 (one GPU). */
  concurrency?: number;
  /** Starts of a job the daemon may die during before it is marked interrupted; default 3. */
  maxAttempts?: number;
  /**
   * Module run in the pipeline process that exports `createPipeline()` (PipelineModule). Default:
   * the product's pipeline module. Tests pass a test double.
   */
  pipelineModule?: URL;
  /**
   * Runs one attempt of a job: default, here (runner.ts's runJob). The studio farm passes one
   * that hands the job to its queue and relays the worker's events (companion/farm/).
   */
  execute?: (ctx: RunJobContext) => Promise<JobResult>;
  /**
   * `execute` only hands the job on (the studio farm's queue): a job it was given stays
   * `queued` until its events say `taken` (then `running`, with the worker's name), and goes
   * back to `queued` on `requeued`. Default false: a started job is `running`.
   */
  queuedUntilTaken?: boolean;
  /**
   * Drops what `execute` keeps of a job outside this daemon (the studio farm's queue entry and
   * keys in Redis) once nothing will attach to it again: its outcome is recorded, or its record
   * deleted. Not waited for; a failure is logged.
   */
  forget?: (id: string) => Promise<void>;
  /** Probe the source when a job is submitted and refuse non-video (default true). */
  probeOnSubmit?: boolean;
  /**
   * Refuses, before the job is queued, settings the pipeline could never run (e.g. a model that
   * is not installed, or an inversion schedule that misses edit timesteps): throws a
   * JobServiceError naming the field. The daemon passes the pipeline's check.
   */
  checkSettings?: (settings: JobSettings) => Promise<void>;
  /**
   * The daemon's default model (an id or absolute folder): recorded in the settings of a job
   * that names none, and passed to the pipeline for records stored without a model.
   */
  defaultModel?: string;
  /** Minimum milliseconds between two previews of one job (default 500: at most 2/s). */
  previewIntervalMs?: number;
  /**
   * Mode given to a job's render and preview images once it succeeds (the daemon runs with an
   * owner-only umask, so renders get the user's usual mode back here); default: as written.
   */
  outputFileMode?: number;
  /** Daemon log sink (job log lines are also emitted as `job.log` events). */
  log?: (level: LogLevel, message: string) => void;
}

export interface JobServiceTestOptions {
  /** Media implementation (default: companion/media). Tests wrap it to simulate failures. */
  media?: MediaApi;
  /** Grace period for an aborted pipeline run before its process is killed (default 1000 ms). */
  abortGraceMs?: number;
  /** The job log's file operations (tests simulate a full disk). */
  logIo?: LogIo;
  /** Clock (ms) the preview throttle reads (default performance.now): tests drive it. */
  now?: () => number;
}

export interface SubmitResult {
  job: JobRecord;
  /** false when an idempotent resubmission returned the existing job. */
  created: boolean;
}

export interface DeleteOptions {
  /** Also delete the job's render(s) from the output folder. */
  files?: boolean;
}

export type Unsubscribe = () => void;

export interface PresetsApi {
  /** Built-in presets first, then the user's, by name. */
  list(): Preset[];
  get(name: string): Preset | undefined;
  /** Creates or replaces a user preset from a parsed body; refuses built-in names (conflict). */
  put(name: string, body: PresetBody): Promise<Preset>;
  /** Deletes a user preset; not_found if missing, conflict for a built-in. */
  delete(name: string): Promise<void>;
}

export interface JobServiceApi {
  /** Opens the store, replays it, re-queues interrupted work and starts the workers. */
  start(): Promise<void>;
  /**
   * Checks a parsed request (settings, source probe), resolves the preset, persists and queues
   * a job. Throws JobServiceError.
   */
  submit(request: JobRequest): Promise<SubmitResult>;
  /** Every job, oldest first. */
  list(): JobRecord[];
  get(id: string): JobRecord | undefined;
  /** Cancels a queued or running job; a finished job is returned unchanged. not_found if unknown. */
  cancel(id: string): Promise<JobRecord>;
  /** Removes a finished job (conflict if still active; not_found if unknown). */
  delete(id: string, options?: DeleteOptions): Promise<void>;
  readonly presets: PresetsApi;
  /** Listen to one event type. */
  on<T extends ServerEventType>(type: T, listener: (event: EventOf<T>) => void): Unsubscribe;
  /** Listen to every event (the WS broadcaster). */
  onEvent(listener: (event: ServerEvent) => void): Unsubscribe;
  /** Active (queued and running) jobs, in queue order: the WS `hello` payload. */
  snapshot(): JobRecord[];
  /**
   * The newest job.preview of each active job that sent one, in snapshot() order: what a WS
   * client gets right after its `hello` (a job may send none for a while, e.g. while it encodes).
   */
  latestPreviews(): EventOf<'job.preview'>[];
  /** For /v1/health. */
  queueCounts(): { queued: number; running: number };
  /**
   * Stops the workers: running jobs are aborted and put back in the queue (resumed on next
   * start, not counted as a crash); then closes the store.
   */
  close(): Promise<void>;
}
