// A studio farm worker: takes jobs from the BullMQ queue and runs each through the same
// stages as the daemon's own runner (runner.ts: probe → extract → pipeline in a child process
// → encode), with its checkpoints in `<workDir>/<job id>`: on shared storage, a job another
// worker picks up after this one died resumes from them. The runner's events go back to the
// daemon as the job's progress; a failure as its JobError; a render's path is mapped back to
// the editor's side.
import fs from 'node:fs';
import path from 'node:path';
import { Worker, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { LogLevel } from '../../shared/events.ts';
import type { JobResult } from '../../shared/jobs.ts';
import { classifyFailure } from '../jobs/failure.ts';
import type { MediaApi } from '../jobs/media_api.ts';
import { outputBaseName, removeJobLeftovers } from '../jobs/output_files.ts';
import { DEFAULT_PIPELINE_MODULE, PipelineHost } from '../pipeline_process/host.ts';
import { runJob, type RunnerEvents } from '../jobs/runner.ts';
import { PipelineError } from '../pipeline/interface.ts';
import { mapPath, unmapPath, type PathMapping } from './path_map.ts';
import { CANCEL_CHANNEL, cancelKey, encodeFailure, QUEUE_NAME, type FarmEvent, type FarmJobData } from './protocol.ts';
import { checkReachable, openRedis } from './connect.ts';
import type { QueueConnection } from './queue_url.ts';

/** Progress ticks go to Redis at most this often per job (stage changes and logs always). */
const PROGRESS_INTERVAL_MS = 200;

export interface FarmWorkerOptions {
  connection: QueueConnection;
  concurrency: number;
  pathMaps: readonly PathMapping[];
  /** Where renders are written (the shared output folder as this machine mounts it). */
  outputDir: string;
  /** Job work folders (checkpoints, inversion cache); shared, so another worker can resume. */
  workDir: string;
  media: MediaApi;
  log: (level: LogLevel, message: string) => void;
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
  const pipelines = new PipelineHost(opts.pipelineModule ?? DEFAULT_PIPELINE_MODULE);
  const redis = openRedis(opts.connection, (m) => log('error', m));
  const subscriber = openRedis(opts.connection, (m) => log('error', m));
  let stopping = false;

  const processor = async (job: Job<FarmJobData, JobResult>, token?: string, signal?: AbortSignal): Promise<JobResult> => {
    const id = job.data.job.id;
    const controller = new AbortController();
    signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
    try {
      if (await redis.exists(cancelKey(id))) controller.abort(new Error('canceled by the user'));
      return await runOne(job, controller.signal);
    } catch (err) {
      if (stopping) {
        // Not the job's fault: back to the queue, for this or another worker to resume.
        await job.moveToWait(token);
        log('info', `job ${id.slice(0, 8)}: put back in the queue (the worker is stopping)`);
        throw new WaitingError();
      }
      const error = controller.signal.aborted ? { code: 'canceled', message: 'canceled by the user' } : classifyFailure(err);
      fs.rmSync(path.join(opts.workDir, id), { recursive: true, force: true });
      log(error.code === 'canceled' ? 'info' : 'error', `job ${id.slice(0, 8)}: ${error.code}: ${error.message}`);
      throw new UnrecoverableError(encodeFailure(error));
    }
  };

  const runOne = async (job: Job<FarmJobData, JobResult>, signal: AbortSignal): Promise<JobResult> => {
    const record = job.data.job;
    const source = workerSource(record.request.source_path, opts.pathMaps);
    // A model given as a folder on shared storage is mapped like the source; a hub id is not a path.
    const model = record.settings.model && (mapPath(record.settings.model, opts.pathMaps) ?? record.settings.model);
    log('info', `job ${record.id.slice(0, 8)}: started (attempt ${job.attemptsStarted}) on ${source}`);
    const base = outputBaseName(source, record.request.prompt, record.id);
    try {
      const result = await runJob({
        job: { ...record, request: { ...record.request, source_path: source }, settings: { ...record.settings, model } },
        jobDir: path.join(opts.workDir, record.id),
        outputDir: opts.outputDir,
        pipelines,
        media: opts.media,
        signal,
        events: relay(job, (level, message) => log(level, `job ${record.id.slice(0, 8)}: ${message}`)),
      });
      fs.rmSync(path.join(opts.workDir, record.id), { recursive: true, force: true });
      log('info', `job ${record.id.slice(0, 8)}: succeeded: ${result.output_path ?? `${result.preview_paths.length} preview images`}`);
      return { ...result, output_path: result.output_path && editorPath(result.output_path), preview_paths: result.preview_paths.map(editorPath) };
    } catch (err) {
      if (!stopping) removeJobLeftovers(opts.outputDir, base);
      throw err;
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
  });
  worker.on('error', (err) => log('error', `queue: ${err.message}`));
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
      subscriber.disconnect();
      redis.disconnect();
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
 * also go to the worker's own log. */
function relay(job: Job<FarmJobData, JobResult>, log: (level: LogLevel, message: string) => void): RunnerEvents {
  let chain: Promise<void> = Promise.resolve();
  let lastTick = -Infinity;
  const send = (event: FarmEvent) => {
    chain = chain.then(() => job.updateProgress(event)).catch(() => {});
  };
  return {
    stageStart: (stage) => send({ t: 'stageStart', stage }),
    progress: (progress) => {
      const now = performance.now();
      if (progress.done < progress.total && now - lastTick < PROGRESS_INTERVAL_MS) return;
      lastTick = now;
      send({ t: 'progress', ...progress });
    },
    stageEnd: (stage) => send({ t: 'stageEnd', stage }),
    stageSkipped: (stage) => send({ t: 'stageSkipped', stage }),
    preview: () => {},
    log: (level, message) => {
      log(level, message);
      send({ t: 'log', level, message });
    },
  };
}
