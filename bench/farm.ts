// The studio farm end to end, with real processes: a redis-server, `tokenflow serve --queue`
// and `tokenflow worker`s, real ffmpeg and the bundled tiny model (short jobs: 8 frames at
// 168x128, one inversion and one edit step). Measures
//   - throughput: 8 jobs submitted at once, with 1 and with 2 workers (the ratio is the
//     speed-up; on a machine with fewer free cores than workers it cannot reach 2);
//   - queue overhead: submit → first progress event of a job on an idle farm worker, against
//     the same on a daemon that runs its jobs itself (the local runner);
//   - recovery: a worker killed with -9 in the middle of a job → the other worker takes it
//     (started, attempt 2) → the job succeeds, with --stall-seconds RECOVERY_STALL_S.
// Run through `npm run bench -- farm`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EventOf } from '../shared/events.ts';
import type { JobRecord } from '../shared/jobs.ts';
import { startWorker, type WorkerProcess } from '../test/helpers/farm_worker.ts';
import { startRedis } from '../test/helpers/redis_server.ts';
import { serveDaemon, until, type ServedDaemon } from '../test/helpers/served_daemon.ts';
import { makeClip } from '../test/media/clips.ts';

const THROUGHPUT_JOBS = 8;
const OVERHEAD_JOBS = 4;
const RECOVERY_STALL_S = 5;
const JOB_TIMEOUT_MS = 1_800_000;

export async function benchFarm(): Promise<object> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-bench-farm-'));
  try {
    const clip = await makeClip(path.join(home, 'clip.mp4'), { width: 320, height: 240, rate: '10', frames: 8 });
    const one = await throughput(home, clip, 1);
    const two = await throughput(home, clip, 2);
    return {
      job: '8 frames 320x240 → 168x128, 1 inversion + 1 edit step, H.264, tiny-sd15 on the CPU',
      cpus: os.cpus().length,
      loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 10) / 10),
      throughput: {
        oneWorker: one,
        twoWorkers: two,
        speedup: Math.round((one.seconds / two.seconds) * 100) / 100,
      },
      submitToFirstProgressMs: {
        farm: await overhead(home, clip, true),
        local: await overhead(home, clip, false),
      },
      recovery: await recovery(home, clip),
    };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

interface Farm {
  daemon: ServedDaemon;
  workers: WorkerProcess[];
  close(): Promise<void>;
}

/** A fresh Redis, a daemon on it and `workers` workers (own homes; shared output and work). */
async function farm(home: string, name: string, workers: number, workerFlags: string[] = []): Promise<Farm> {
  const root = path.join(home, name);
  const redis = await startRedis();
  const started: WorkerProcess[] = [];
  let daemon: ServedDaemon | undefined;
  const close = async () => {
    await daemon?.stop('SIGKILL');
    await Promise.all(started.map((w) => w.stop('SIGKILL')));
    await redis.stop();
  };
  try {
    daemon = await serveDaemon(path.join(root, 'editor'), ['--queue', redis.url]);
    for (let i = 1; i <= workers; i++) {
      started.push(await startWorker(path.join(root, `w${i}`), [
        '--queue', redis.url, '--name', `w${i}`, '--output', path.join(root, 'renders'), '--work', path.join(root, 'work'), ...workerFlags,
      ]));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { daemon, workers: started, close };
}

async function throughput(home: string, clip: string, workers: number): Promise<{ workers: number; jobs: number; seconds: number; jobsPerMinute: number; perWorker: Record<string, number> }> {
  const f = await farm(home, `throughput-${workers}`, workers);
  try {
    const started = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < THROUGHPUT_JOBS; i++) ids.push(await submit(f.daemon, clip, `throughput ${workers} ${i}`));
    const done = await Promise.all(ids.map((id) => finished(f.daemon, id)));
    const seconds = (performance.now() - started) / 1000;
    const perWorker: Record<string, number> = {};
    for (const job of done) perWorker[job.worker ?? '?'] = (perWorker[job.worker ?? '?'] ?? 0) + 1;
    return { workers, jobs: ids.length, seconds: round(seconds), jobsPerMinute: round((ids.length / seconds) * 60), perWorker };
  } finally {
    await f.close();
  }
}

/** Jobs one after another on an idle daemon: submit → its first job.progress event. */
async function overhead(home: string, clip: string, onFarm: boolean): Promise<object> {
  let f: Farm | undefined;
  let daemon: ServedDaemon;
  if (onFarm) {
    f = await farm(home, 'overhead-farm', 1);
    daemon = f.daemon;
  } else {
    daemon = await serveDaemon(path.join(home, 'overhead-local'));
  }
  try {
    const delays: number[] = [];
    for (let i = 0; i < OVERHEAD_JOBS; i++) {
      const since = daemon.events.length;
      const started = performance.now();
      const id = await submit(daemon, clip, `overhead ${i}`);
      await until(() => daemon.events.slice(since).some((e) => e.type === 'job.progress' && e.job_id === id), JOB_TIMEOUT_MS, `job ${id}'s first progress`);
      delays.push(performance.now() - started);
      await finished(daemon, id);
    }
    const sorted = [...delays].sort((a, b) => a - b);
    return { jobs: delays.length, medianMs: round(sorted[Math.floor(sorted.length / 2)]!), minMs: round(sorted[0]!), maxMs: round(sorted[sorted.length - 1]!) };
  } finally {
    if (f) await f.close();
    else await daemon.stop('SIGKILL');
  }
}

/** kill -9 of the worker running a job in its edit → the other worker takes it → it succeeds. */
async function recovery(home: string, clip: string): Promise<object> {
  const f = await farm(home, 'recovery', 2, ['--stall-seconds', String(RECOVERY_STALL_S)]);
  try {
    const id = await submit(f.daemon, clip, 'recovery', { steps: 3, inversion_steps: 3, short_side: 64 });
    await until(() => f.daemon.events.some((e) => e.type === 'job.progress' && e.job_id === id && e.stage === 'edit'), JOB_TIMEOUT_MS, 'the job to reach its edit');
    const startedOn = new RegExp(`job ${id.slice(0, 8)}: started`);
    const victim = f.workers.find((w) => startedOn.test(w.output()));
    if (!victim) throw new Error('no worker says it started the job');
    const other = f.workers.find((w) => w !== victim)!;
    await victim.stop('SIGKILL');
    const killedAt = performance.now();
    const retaken = new RegExp(`job ${id.slice(0, 8)}: started \\(attempt 2\\)`);
    await until(() => retaken.test(other.output()), JOB_TIMEOUT_MS, 'the other worker to take the job');
    const takenAfter = performance.now() - killedAt;
    const job = await finished(f.daemon, id);
    return {
      stallSeconds: RECOVERY_STALL_S,
      killToTakenOverS: round(takenAfter / 1000),
      killToSucceededS: round((performance.now() - killedAt) / 1000),
      state: job.state,
      note: 'with the default --stall-seconds (30, BullMQ\'s) the take-over waits for a 30 s lock and a 30 s check instead',
    };
  } finally {
    await f.close();
  }
}

async function submit(d: ServedDaemon, clip: string, prompt: string, parameters: Record<string, number> = {}): Promise<string> {
  const res = await d.request('POST', '/v1/jobs', {
    source_path: clip, range: { start_seconds: 0, end_seconds: 0.8 }, prompt, codec: 'h264',
    parameters: { steps: 1, inversion_steps: 1, short_side: 128, batch_size: 8, ...parameters },
  });
  if (res.status !== 202) throw new Error(`submit: HTTP ${res.status} ${JSON.stringify(res.json)}`);
  return (res.json as { job: JobRecord }).job.id;
}

async function finished(d: ServedDaemon, id: string): Promise<JobRecord> {
  const end = (): JobRecord | undefined =>
    d.events
      .filter((e): e is EventOf<'job.state'> => e.type === 'job.state' && e.job.id === id)
      .map((e) => e.job)
      .find((j) => j.state !== 'queued' && j.state !== 'running');
  await until(() => end() !== undefined, JOB_TIMEOUT_MS, `job ${id} to finish`);
  const job = end()!;
  if (job.state !== 'succeeded') throw new Error(`job ${id} ${job.state}: ${JSON.stringify(job.error)}`);
  return job;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
