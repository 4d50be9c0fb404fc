// A studio farm worker: takes jobs from the BullMQ queue and runs each through the same
// stages as the daemon's own runner (runner.ts: probe → extract → pipeline in a child process
// → encode), with its checkpoints in `<workDir>/<job id>`: on shared storage, a job another
// worker picks up after this one died resumes from them. The runner's events go back to the
// daemon as the job's progress; a failure as its JobError; a render's path is mapped back to
// the editor's side.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { MAX_PREVIEW_BASE64, type LogLevel } from '../../shared/events.ts';
import type { FarmWorkerInfo } from '../../shared/health.ts';
import type { JobResult } from '../../shared/jobs.ts';
import { classifyFailure } from '../jobs/failure.ts';
import type { MediaApi } from '../jobs/media_api.ts';
import { outputBaseName, removeJobLeftovers } from '../jobs/output_files.ts';
import { DEFAULT_PIPELINE_MODULE, ParentSilentError, PipelineHost } from '../pipeline_process/host.ts';
import { PreviewThrottle } from '../jobs/preview_throttle.ts';
import { runJob, type RunnerEvents } from '../jobs/runner.ts';
import { PipelineError, type PipelinePreview } from '../pipeline/interface.ts';
import { writeFileAtomic } from '../util/atomic_file.ts';
import { ChildRegistry, installChildRegistry, processIdentity, uninstallChildRegistry } from '../util/child_registry.ts';
import { mapPath, unmapPath, type PathMapping } from './path_map.ts';
import {
  CANCEL_CHANNEL, cancelKey, encodeFailure, HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_S, QUEUE_NAME, savePreview, workerKey,
  type FarmEvent, type FarmJobData, type LogRow,
} from './protocol.ts';
import { checkReachable, openRedis } from './connect.ts';
import type { QueueConnection } from './queue_url.ts';

/** Progress ticks go to Redis at most this often per job (stage changes and logs always). */
const PROGRESS_INTERVAL_MS = 200;

/** Previews too (each is an image of some kB): the daemon's own throttle is 500 ms. */
const PREVIEW_INTERVAL_MS = 500;

/** Without --stall-seconds: BullMQ's own default lock duration and stalled-check interval. */
const DEFAULT_STALL_SECONDS = 30;

export interface FarmWorkerOptions {
  connection: QueueConnection;
  /** This worker's name in the health and in the jobs it runs (`--name`, default the host name). */
  name: string;
  /** Its execution provider and GPU, for the health (null: none loaded / not known). */
  device: string | null;
  deviceName: string | null;
  /**
   * This worker's own folder (never shared): its children's records, so a worker started
   * after one killed with -9 kills the ffmpeg and pipeline processes that one left running.
   */
  stateDir: string;
  concurrency: number;
  pathMaps: readonly PathMapping[];
  /** Where renders are written (the shared output folder as this machine mounts it). */
  outputDir: string;
  /** Job work folders (checkpoints, inversion cache); shared, so another worker can resume. */
  workDir: string;
  media: MediaApi;
  log: (level: LogLevel, message: string) => void;
  /**
   * BullMQ's job lock (and the interval of this worker's stalled-job check), in seconds: a
   * worker that dies holding a job loses it after about this long, and another worker takes
   * it within about twice as long. Every worker of a farm should use the same value.
   * Default: BullMQ's (30 s).
   */
  stallSeconds?: number;
  /** Tests pass a pipeline double; default the product's pipeline. */
  pipelineModule?: URL;
}

export interface FarmWorker {
  /** Stops taking jobs; running ones go back to the queue (their checkpoints stay). */
  close(): Promise<void>;
}

export async function startFarmWorker(opts: FarmWorkerOptions): Promise<FarmWorker> {
  const { log } = opts;
  await checkReachable(opts.connection);
  fs.mkdirSync(opts.outputDir, { recursive: true });
  fs.mkdirSync(opts.workDir, { recursive: true, mode: 0o700 });
  const children = claimStateDir(opts.stateDir, opts.name);
  for (const child of children.killLeftovers()) log('warn', `killed ${child}, left running by a worker that did not stop cleanly`);
  installChildRegistry(children);
  // The lock is renewed every half of its duration, so it can expire half of it after this
  // process froze. Its pipeline process stops by itself after a third of it without a word
  // from this process (host.ts): it no longer writes the shared work folder by the time
  // another worker can take the job.
  const lockMs = (opts.stallSeconds ?? DEFAULT_STALL_SECONDS) * 1000;
  const pipelines = new PipelineHost(opts.pipelineModule ?? DEFAULT_PIPELINE_MODULE, { silenceLimitMs: Math.round(lockMs / 3) });
  const redis = openRedis(opts.connection, (m) => log('error', m));
  const subscriber = openRedis(opts.connection, (m) => log('error', m));
  let stopping = false;
  const running = new Set<string>();
  /** Jobs whose lock expired under this worker: another worker may run them now. */
  const lost = new Set<string>();
  const heartbeat = startHeartbeat(redis, opts, running, log);

  const processor = async (job: Job<FarmJobData, JobResult>, token?: string, signal?: AbortSignal): Promise<JobResult> => {
    const id = job.data.job.id;
    const controller = new AbortController();
    signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
    running.add(id);
    heartbeat.beat();
    try {
      // First of the attempt's events: the daemon shows the job running, on this worker.
      await job.updateProgress({ t: 'taken', worker: opts.name } satisfies FarmEvent);
      if (await redis.exists(cancelKey(id))) controller.abort(new Error('canceled by the user'));
      return await runOne(job, controller.signal);
    } catch (err) {
      if (lost.has(id)) {
        // Not this worker's job any more: leave its record and its work folder (with the
        // checkpoints the next run resumes from) alone.
        log('warn', `job ${id.slice(0, 8)}: stopped here; the stalled-job check hands it to a worker again`);
        throw new WaitingError();
      }
      if (stopping || err instanceof ParentSilentError) {
        // Not the job's fault (this worker stopping, or frozen long enough for its pipeline
        // process to give up): back to the queue, for this or another worker to resume.
        await putBack(job, token, stopping ? 'the worker is stopping' : 'this worker was frozen or blocked');
        throw new WaitingError();
      }
      const error = controller.signal.aborted ? { code: 'canceled', message: 'canceled by the user' } : classifyFailure(err);
      fs.rmSync(path.join(opts.workDir, id), { recursive: true, force: true });
      log(error.code === 'canceled' ? 'info' : 'error', `job ${id.slice(0, 8)}: ${error.code}: ${error.message}`);
      throw new UnrecoverableError(encodeFailure(error));
    } finally {
      running.delete(id);
      lost.delete(id);
      heartbeat.beat();
    }
  };

  const putBack = async (job: Job<FarmJobData, JobResult>, token: string | undefined, why: string) => {
    const id = job.data.job.id;
    try {
      await job.moveToWait(token);
      log('info', `job ${id.slice(0, 8)}: put back in the queue (${why})`);
    } catch (err) {
      // The lock expired meanwhile: the stalled-job check hands it to a worker again.
      log('warn', `job ${id.slice(0, 8)}: stopped here (${why}); the stalled-job check hands it to a worker again: ${err instanceof Error ? err.message : err}`);
    }
  };

  const runOne = async (job: Job<FarmJobData, JobResult>, signal: AbortSignal): Promise<JobResult> => {
    const record = job.data.job;
    const source = workerSource(record.request.source_path, opts.pathMaps);
    // A model given as a folder on shared storage is mapped like the source; a hub id is not a path.
    const model = record.settings.model && (mapPath(record.settings.model, opts.pathMaps) ?? record.settings.model);
    log('info', `job ${record.id.slice(0, 8)}: started (attempt ${job.attemptsStarted}) on ${source}`);
    const base = outputBaseName(source, record.request.prompt, record.id);
    // What an earlier attempt's worker was writing when it died (an encode's partial file).
    for (const name of removeJobLeftovers(opts.outputDir, base)) log('info', `job ${record.id.slice(0, 8)}: removed ${name}, left by an earlier attempt`);
    const relayed = relay(job, redis, (level, message) => log(level, `job ${record.id.slice(0, 8)}: ${message}`));
    try {
      const result = await runJob({
        job: { ...record, request: { ...record.request, source_path: source }, settings: { ...record.settings, model } },
        jobDir: path.join(opts.workDir, record.id),
        outputDir: opts.outputDir,
        pipelines,
        media: opts.media,
        signal,
        events: relayed.events,
      });
      fs.rmSync(path.join(opts.workDir, record.id), { recursive: true, force: true });
      log('info', `job ${record.id.slice(0, 8)}: succeeded: ${result.output_path ?? `${result.preview_paths.length} preview images`}`);
      return { ...result, output_path: result.output_path && editorPath(result.output_path), preview_paths: result.preview_paths.map(editorPath) };
    } catch (err) {
      // A job this worker lost (or may have lost, frozen) may be encoding elsewhere into the same partial file.
      if (!stopping && !lost.has(record.id) && !(err instanceof ParentSilentError)) removeJobLeftovers(opts.outputDir, base);
      throw err;
    } finally {
      // The job's end must follow its last events (the encode's end, the last log lines): the
      // daemon stops listening to a job once it has ended.
      await relayed.drained();
    }
  };

  // The encoder reports the real path (links resolved); the mappings name the folder as given.
  const realOutputDir = fs.realpathSync(opts.outputDir);
  const editorPath = (file: string) => {
    const relative = path.relative(realOutputDir, file);
    const asGiven = relative.startsWith('..') || path.isAbsolute(relative) ? file : path.join(opts.outputDir, relative);
    return unmapPath(asGiven, opts.pathMaps) ?? asGiven;
  };

  const worker = new Worker<FarmJobData, JobResult>(QUEUE_NAME, processor, {
    connection: opts.connection.options,
    concurrency: opts.concurrency,
    // Recorded on each job it takes (BullMQ's processedBy): a daemon that attaches later reads it.
    name: opts.name,
    lockDuration: lockMs,
    stalledInterval: lockMs,
  });
  worker.on('error', (err) => log('error', `queue: ${err.message}`));
  // BullMQ renews a job's lock every --stall-seconds/2 but, when the lock has expired meanwhile
  // (Redis unreachable or this process stalled for longer than --stall-seconds), only reports
  // it: the stalled-job check may already have given the job to another worker, so this
  // worker stops its run, or two would write the same job at once.
  worker.on('lockRenewalFailed', (jobIds: string[]) => {
    for (const jobId of jobIds) {
      lost.add(jobId);
      if (worker.cancelJob(jobId, 'its lock expired')) log('warn', `job ${jobId.slice(0, 8)}: its lock in Redis expired; stopping it here`);
    }
  });
  await worker.waitUntilReady();
  await subscriber.subscribe(CANCEL_CHANNEL);
  subscriber.on('message', (_channel: string, jobId: string) => {
    if (worker.cancelJob(jobId, 'canceled by the user')) log('info', `job ${jobId.slice(0, 8)}: cancel requested`);
  });

  return {
    async close() {
      stopping = true;
      worker.cancelAllJobs('the worker is stopping');
      await worker.close();
      await pipelines.close();
      await heartbeat.stop();
      subscriber.disconnect();
      redis.disconnect();
      uninstallChildRegistry(children);
    },
  };
}

/** The editor's source as this worker reads it; refused, naming the path, when unreadable. */
function workerSource(editorSource: string, maps: readonly PathMapping[]): string {
  const mapped = mapPath(editorSource, maps) ?? editorSource;
  try {
    fs.accessSync(mapped, fs.constants.R_OK);
  } catch (err) {
    const from = mapped === editorSource ? '' : ` (mapped from ${editorSource})`;
    throw new PipelineError('media_invalid', `this worker cannot read the source ${mapped}${from}: ${(err as NodeJS.ErrnoException).code ?? err}; check --path-map and the shared storage mount`);
  }
  return mapped;
}

/** The runner's events as BullMQ progress updates, in order; ticks thinned out. Its log lines
 * also go to the worker's own log and to the job's BullMQ log, and its latest preview to a key
 * of its own: a daemon that was down while they came finds them there. `drained` resolves once
 * every event so far (and a preview held back by the throttle) is written. */
function relay(job: Job<FarmJobData, JobResult>, redis: Redis, log: (level: LogLevel, message: string) => void): { events: RunnerEvents; drained(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  let lastTick = -Infinity;
  const then = (write: () => Promise<unknown>) => {
    chain = chain.then(write).then(() => {}, () => {});
  };
  const send = (event: FarmEvent) => then(() => job.updateProgress(event));
  const previews = new PreviewThrottle<PipelinePreview>(PREVIEW_INTERVAL_MS, (p) => {
    const data = Buffer.from(p.data).toString('base64');
    if (data.length > MAX_PREVIEW_BASE64) {
      log('warn', `preview of frame ${p.index} not sent: ${p.data.length} bytes is over the event size limit`);
      return;
    }
    const event = { t: 'preview', index: p.index, mime: p.mime, data, width: p.width, height: p.height } satisfies FarmEvent;
    then(async () => {
      await savePreview(redis, job.data.job.id, event);
      await job.updateProgress(event);
    });
  });
  const events: RunnerEvents = {
    stageStart: (stage) => send({ t: 'stageStart', stage }),
    progress: (progress) => {
      const now = performance.now();
      if (progress.done < progress.total && now - lastTick < PROGRESS_INTERVAL_MS) return;
      lastTick = now;
      send({ t: 'progress', ...progress });
    },
    stageEnd: (stage) => {
      // The stage's last preview goes before its end (the encode stage follows the edit's).
      previews.flush();
      send({ t: 'stageEnd', stage });
    },
    stageSkipped: (stage) => send({ t: 'stageSkipped', stage }),
    preview: (p) => previews.push(p),
    log: (level, message) => {
      log(level, message);
      then(async () => {
        const n = await job.log(JSON.stringify({ level, message } satisfies LogRow));
        await job.updateProgress({ t: 'log', level, message, n } satisfies FarmEvent);
      });
    },
  };
  return {
    events,
    drained: () => {
      previews.flush();
      return chain;
    },
  };
}

interface Heartbeat {
  /** Writes the heartbeat now (the jobs it runs changed). */
  beat(): void;
  /** Stops it and removes the key: the worker leaves the health at once. */
  stop(): Promise<void>;
}

/** The worker's FarmWorkerInfo under its key, renewed every HEARTBEAT_INTERVAL_MS with a TTL. */
function startHeartbeat(redis: Redis, opts: FarmWorkerOptions, running: ReadonlySet<string>, log: (level: LogLevel, message: string) => void): Heartbeat {
  const key = workerKey(opts.name, process.pid);
  const startedAt = new Date().toISOString();
  let failing = false;
  const beat = () => {
    const info: FarmWorkerInfo = {
      name: opts.name, host: os.hostname(), pid: process.pid, device: opts.device, device_name: opts.deviceName,
      concurrency: opts.concurrency, jobs: [...running], started_at: startedAt, heartbeat_at: new Date().toISOString(),
    };
    redis.set(key, JSON.stringify(info), 'EX', HEARTBEAT_TTL_S).then(
      () => {
        if (failing) log('info', 'heartbeat: written again');
        failing = false;
      },
      (err: unknown) => {
        // ioredis reconnects by itself; say so once, not every few seconds.
        if (!failing) log('warn', `heartbeat: not written (${err instanceof Error ? err.message : err}); retrying`);
        failing = true;
      },
    );
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
  return {
    beat,
    async stop() {
      clearInterval(timer);
      await redis.del(key).catch(() => {});
    },
  };
}

/**
 * The worker's own folder, claimed for this process: a live worker of the same name on the
 * same data folder is refused (it would kill that one's children); the registry of children
 * lives inside.
 */
function claimStateDir(dir: string, name: string): ChildRegistry {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(dir, 'worker.json');
  try {
    const other = JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { pid: number; identity: string };
    if (other.pid !== process.pid && processIdentity(other.pid) === other.identity) {
      throw new Error(`a worker named "${name}" is already running with this data folder (pid ${other.pid}); give each worker on one machine its own --name`);
    }
  } catch (err) {
    if (!(err instanceof SyntaxError) && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  writeFileAtomic(pidFile, JSON.stringify({ pid: process.pid, identity: processIdentity(process.pid) }));
  return new ChildRegistry(path.join(dir, 'children'));
}
