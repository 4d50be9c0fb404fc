// Daemon request latency under load: 50 concurrent keep-alive clients (in a worker thread)
// hammer GET /v1/health and GET /v1/jobs while a job runs. The job's pipeline is the CPU-bound
// test double (test/server/doubles/spin_pipeline.ts), which keeps one core busy in the pipeline
// worker: this measures the daemon (HTTP, auth, validation, job service), not the model.
// Then a burst: 200 simultaneous POST /v1/jobs with the daemon's real submit checks (the
// bundled tiny model's folder, a real clip probed by ffprobe), health probed meanwhile, once
// with the model checked the way the daemon did before (inspectModel on the event loop for
// every submission) and once the way it does now (cached per folder identity, in a worker:
// the first burst pays one inspection, the second none).
// Run through `npm run bench`, or alone: node --import tsx bench/run.ts daemon
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveFolders } from '../companion/config.ts';
import { JobService, type JobServiceOptions } from '../companion/jobs/index.ts';
import { BUNDLED_MODEL_ID } from '../companion/hub/catalog.ts';
import { cachedInspector, inspectOffThread } from '../companion/hub/report_cache.ts';
import { checkJobSettings, submitCheck } from '../companion/pipeline/settings_check.ts';
import { JobRequest, type JobSettings } from '../shared/jobs.ts';
import { startDaemon } from '../companion/server/daemon.ts';
import { loadOrCreateToken } from '../companion/server/token.ts';
import { startModuleWorker } from '../companion/util/worker.ts';
import { makeClip } from '../test/media/clips.ts';
import type { BurstConfig, BurstResult } from './daemon_burst.ts';
import type { LoadConfig, LoadResult } from './daemon_load.ts';

const CLIENTS = 50;
const DURATION_MS = 5000;
/** Jobs waiting behind the running one, so GET /v1/jobs returns a realistic list. */
const QUEUED = 20;
const SPIN_PIPELINE = new URL('../test/server/doubles/spin_pipeline.ts?spin=25&calls=100000', import.meta.url);

export async function benchDaemon(): Promise<object> {
  return withDaemon('tokenflow-bench-daemon-', {}, async ({ jobs, daemon, token, clip }) => {
    const request = (i: number) => JobRequest.parse({ source_path: clip, range: { start_seconds: 0, end_seconds: 0.5 }, prompt: `bench ${i}` });
    const { job } = await jobs.submit(request(0));
    for (let i = 1; i <= QUEUED; i++) await jobs.submit(request(i));
    await waitUntil(() => jobs.get(job.id)?.stage === 'invert', 30_000);

    const paths = ['/v1/health', '/v1/jobs'];
    const loaded = await inWorker<LoadResult>('./daemon_load.ts', { port: daemon.port, token, clients: CLIENTS, durationMs: DURATION_MS, paths } satisfies LoadConfig);
    // One client alone: the time one request takes when nothing queues in front of it.
    const alone = await inWorker<LoadResult>('./daemon_load.ts', { port: daemon.port, token, clients: 1, durationMs: 2000, paths } satisfies LoadConfig);
    const running = jobs.get(job.id)?.state === 'running';
    if (!running) throw new Error(`the background job stopped during the measurement (${jobs.get(job.id)?.state})`);
    const cached = cachedInspector(inspectOffThread);
    return {
      backgroundJob: 'running in the pipeline process (CPU-bound test double, 25 ms per call)',
      jobsListed: QUEUED + 1,
      [`${CLIENTS}Clients`]: report(loaded, paths, DURATION_MS, CLIENTS),
      oneClient: report(alone, paths, 2000, 1),
      [`burst${BURST}Submissions`]: {
        model: `${BUNDLED_MODEL_ID} (the bundled tiny model; a real SD folder's check costs far more, see README)`,
        before: await burst((s) => checkJobSettings(s, process.env)),
        afterCold: await burst((s) => checkJobSettings(s, process.env, cached)),
        afterWarm: await burst((s) => checkJobSettings(s, process.env, cached)),
      },
    };
  });
}

const BURST = 200;

/** A fresh daemon with the given submit check, hit by BURST simultaneous submissions. */
function burst(check: (settings: JobSettings) => Promise<void>): Promise<object> {
  return withDaemon('tokenflow-bench-burst-', { checkSettings: submitCheck(check) }, async ({ jobs, daemon, token, clip }) => {
    const config: BurstConfig = {
      port: daemon.port,
      token,
      submissions: BURST,
      request: { source_path: clip, range: { start_seconds: 0, end_seconds: 0.5 }, prompt: 'bench {i}', model: BUNDLED_MODEL_ID },
    };
    const result = await inWorker<BurstResult>('./daemon_burst.ts', config);
    return {
      statuses: result.statuses,
      failures: result.failures,
      jobsListed: jobs.list().length,
      submitLatencyMs: summary(result.submitLatencies),
      healthLatencyMs: summary(result.healthLatencies),
    };
  });
}

interface BenchDaemon {
  jobs: JobService;
  daemon: Awaited<ReturnType<typeof startDaemon>>;
  token: string;
  /** A small clip in the daemon's home. */
  clip: string;
}

/** `run` on a daemon in a fresh home whose jobs run the spin pipeline; the daemon and its home go afterwards. */
async function withDaemon<T>(prefix: string, options: Pick<JobServiceOptions, 'checkSettings'>, run: (d: BenchDaemon) => Promise<T>): Promise<T> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const folders = resolveFolders({ TOKENFLOW_HOME: home });
  const jobs = new JobService({ dataDir: folders.dataDir, outputDir: folders.outputDir, pipelineModule: SPIN_PIPELINE, ...options });
  let daemon: BenchDaemon['daemon'] | undefined;
  try {
    const token = await loadOrCreateToken(folders.configDir);
    const clip = await makeClip(path.join(home, 'clip.mp4'), { width: 64, height: 48, rate: '10', frames: 10 });
    await jobs.start();
    daemon = await startDaemon({ jobs, token, host: '127.0.0.1', port: 0, version: 'bench' });
    return await run({ jobs, daemon, token, clip });
  } finally {
    await daemon?.close();
    await jobs.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** The result the bench worker `module` (next to this file) posts for `workerData`. */
async function inWorker<T>(module: string, workerData: object): Promise<T> {
  const worker = startModuleWorker(new URL(module, import.meta.url), { workerData });
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}

function report(result: LoadResult, paths: string[], durationMs: number, clients: number): object {
  const total = paths.reduce((n, p) => n + result.latencies[p].length, 0);
  return {
    clients,
    durationMs,
    requests: total,
    requestsPerSecond: Math.round(total / (durationMs / 1000)),
    errors: result.errors,
    statuses: result.statuses,
    latencyMs: Object.fromEntries(paths.map((p) => [p, summary(result.latencies[p])])),
  };
}

function summary(values: number[]): object {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { count: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? NaN) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

async function waitUntil(predicate: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('the background job did not reach the pipeline in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
