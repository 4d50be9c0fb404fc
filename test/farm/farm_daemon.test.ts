// The daemon's side of the studio farm as `serve --queue` wires it (the job service handing
// its jobs to FarmClient, the HTTP/WS server) against a real redis-server, with the worker's
// side played by a BullMQ worker in this process that writes what `tokenflow worker` writes:
// what a panel connecting later sees, and what stays in Redis once a job is done with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { resolveFolders } from '../../companion/config.ts';
import { FarmClient, type FarmClientTiming } from '../../companion/farm/farm_client.ts';
import { startFarmWorker } from '../../companion/farm/worker.ts';
import {
  cancelKey, HEARTBEAT_TTL_S, KEEP_FINISHED_S, logsRelayedKey, previewKey, QUEUE_NAME, savePreview, workerKey, type FarmEvent, type FarmJobData,
} from '../../companion/farm/protocol.ts';
import type { QueueConnection } from '../../companion/farm/queue_url.ts';
import { JobService } from '../../companion/jobs/service.ts';
import { startDaemon } from '../../companion/server/daemon.ts';
import { loadOrCreateToken } from '../../companion/server/token.ts';
import { encodePngRgb } from '../../companion/util/png.ts';
import type { EventOf, ServerEvent } from '../../shared/events.ts';
import type { FarmWorkerInfo } from '../../shared/health.ts';
import { STAGES, type JobResult } from '../../shared/jobs.ts';
import { fakeMedia } from '../jobs/doubles/fake_media.ts';
import { sampleRequest, tempDir } from '../jobs/helpers.ts';
import { farmRedis, RESULT, type Closers } from './helpers.ts';
import { until } from '../helpers/served_daemon.ts';
import { connectEvents } from '../server/helpers.ts';




/** The worker's side: takes a job, says so, then writes as the test says until it is told to finish. */
function fakeWorker(connection: QueueConnection, redis: Redis, closers: Closers) {
  let taken: Job<FarmJobData, JobResult> | undefined;
  let finish!: (result: JobResult) => void;
  const finished = new Promise<JobResult>((resolve) => (finish = resolve));
  const worker = new Worker<FarmJobData, JobResult>(QUEUE_NAME, async (job) => {
    taken = job;
    await job.updateProgress({ t: 'taken', worker: 'gpu-1' } satisfies FarmEvent);
    return finished;
  }, { connection: connection.options });
  closers.push(() => {
    finish(RESULT);
    return worker.close();
  });
  const image = Buffer.from(encodePngRgb(new Uint8Array(4 * 2 * 3).fill(200), 4, 2)).toString('base64');
  return {
    taken: () => taken,
    finish,
    /** An edited keyframe, as the worker relays one: its key first, then the event. */
    async preview(index: number): Promise<Extract<FarmEvent, { t: 'preview' }>> {
      const event = { t: 'preview', index, mime: 'image/png', data: image, width: 4, height: 2 } satisfies FarmEvent;
      await savePreview(redis, taken!.id!, event);
      await taken!.updateProgress(event);
      return event;
    },
    async line(message: string, n: number): Promise<void> {
      await taken!.log(JSON.stringify({ level: 'info', message }));
      await taken!.updateProgress({ t: 'log', level: 'info', message, n } satisfies FarmEvent);
    },
  };
}

/** An editor's daemon on `home` with `--queue`: its job service's events are recorded. */
async function farmDaemon(home: string, connection: QueueConnection, closers: Closers, timing?: FarmClientTiming) {
  const folders = resolveFolders({ TOKENFLOW_HOME: home });
  const token = await loadOrCreateToken(folders.configDir);
  const farm = await FarmClient.open(connection, () => {}, timing);
  const jobs = new JobService({
    dataDir: folders.dataDir, outputDir: folders.outputDir, media: fakeMedia(),
    execute: farm.execute, forget: farm.forget, queuedUntilTaken: true, concurrency: 100,
  });
  const events: ServerEvent[] = [];
  jobs.onEvent((e) => events.push(e));
  await jobs.start();
  const daemon = await startDaemon({ jobs, token, host: '127.0.0.1', port: 0, version: '0.0.0-test' });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await daemon.close();
    await jobs.close();
    await farm.close();
  };
  closers.push(stop);
  return { jobs, events, port: daemon.port, token, stop };
}

function clip(t: { after(fn: () => void): void }): { home: string; source: string } {
  const home = tempDir(t, 'tf-farm-daemon-');
  const source = path.join(home, 'clip.mov');
  fs.writeFileSync(source, 'not really a movie');
  return { home, source };
}

test('a panel that connects after its restarted daemon attached again to a running farm job gets the latest preview right after the hello', async (t) => {
  const { connection, closers, redis } = await farmRedis(t);
  const worker = fakeWorker(connection, redis, closers);
  const { home, source } = clip(t);
  const first = await farmDaemon(home, connection, closers);
  const { job } = await first.jobs.submit(sampleRequest(source));
  await until(() => first.jobs.get(job.id)?.state === 'running', 30_000, 'the worker to take the job');
  await first.stop();
  // While no daemon follows the job, the worker edits a keyframe; then nothing for a while (it encodes).
  const preview = await worker.preview(5);

  const second = await farmDaemon(home, connection, closers);
  await until(() => second.events.some((e) => e.type === 'job.preview' && e.job_id === job.id), 30_000, 'the restarted daemon to catch up');
  const client = await connectEvents(second);
  closers.push(() => client.close());
  await client.next((m) => m.type === 'job.preview');
  assert.deepEqual(client.messages.slice(0, 2).map((m) => m.type), ['hello', 'job.preview']);
  const { job_id, index, data } = client.messages[1] as EventOf<'job.preview'>;
  assert.deepEqual([job_id, index, data], [job.id, 5, preview.data]);
});

test('a farm job\'s queue entry and keys go once its daemon recorded the outcome, and when the job is deleted; until then they expire by themselves', async (t) => {
  const { connection, closers, redis, queue } = await farmRedis(t);
  const worker = fakeWorker(connection, redis, closers);
  const { home, source } = clip(t);
  const daemon = await farmDaemon(home, connection, closers);
  const { job } = await daemon.jobs.submit(sampleRequest(source));
  await until(() => daemon.jobs.get(job.id)?.state === 'running', 30_000, 'the worker to take the job');
  const preview = await worker.preview(3);
  await worker.line('extract: 8 frames', 1);
  const keys = [previewKey(job.id), logsRelayedKey(job.id)];
  await until(async () => (await redis.exists(...keys)) === 2, 30_000, 'the daemon to note its relayed line');
  // The safety net for a job its daemon never gets to forget (stopped for good, Redis unreachable then).
  for (const key of keys) {
    const ttl = await redis.ttl(key);
    assert.ok(ttl > KEEP_FINISHED_S - 60 && ttl <= KEEP_FINISHED_S, `${key} expires in ${ttl} s`);
  }

  worker.finish(RESULT);
  await until(() => daemon.jobs.get(job.id)?.state === 'succeeded', 30_000, 'the job to succeed');
  await until(async () => (await redis.exists(...keys)) === 0 && (await queue.getJob(job.id)) === undefined, 30_000, 'the job\'s traces to go');

  // What a daemon stopped between recording the outcome and removing them would leave.
  await savePreview(redis, job.id, preview);
  await redis.set(logsRelayedKey(job.id), '1');
  await redis.set(cancelKey(job.id), '1');
  await daemon.jobs.delete(job.id);
  await until(async () => (await redis.exists(...keys, cancelKey(job.id))) === 0, 30_000, 'the deleted job\'s keys to go');
});

test('a job run by a real worker: the daemon\'s record has each stage\'s timing, the encode\'s too (the worker\'s last events reach Redis before the job ends)', async (t) => {
  const { connection, closers } = await farmRedis(t);
  const { home, source } = clip(t);
  const worker = await startFarmWorker({
    connection, name: 'w1', device: null, deviceName: null, concurrency: 1, pathMaps: [], media: fakeMedia(), log: () => {},
    stateDir: path.join(home, 'w1'), outputDir: path.join(home, 'renders'), workDir: path.join(home, 'work'),
    pipelineModule: new URL('../jobs/doubles/invert_pipeline.ts?delay=1&steps=2', import.meta.url),
  });
  closers.push(() => worker.close());
  const daemon = await farmDaemon(home, connection, closers);
  const { job } = await daemon.jobs.submit(sampleRequest(source));
  await until(() => daemon.jobs.get(job.id)?.state === 'succeeded', 60_000, 'the job to succeed');
  const done = daemon.jobs.get(job.id)!;
  assert.deepEqual(Object.keys(done.timings).sort(), [...STAGES].sort(), JSON.stringify(done.timings));
});

/** The daemon looks at the heartbeats often, and gives up on a job no heartbeat lists after a moment (default: the heartbeat's TTL). */
const QUICK: FarmClientTiming = { heartbeatCheckMs: 50, silentWorkerMs: 500 };

/** A worker's heartbeat, as `tokenflow worker` writes it, listing the jobs it runs. */
function heartbeat(redis: Redis, name: string, jobs: string[]): Promise<unknown> {
  const now = new Date().toISOString();
  const info: FarmWorkerInfo = { name, host: 'render-1', pid: 4242, device: null, device_name: null, concurrency: 1, jobs, started_at: now, heartbeat_at: now };
  return redis.set(workerKey(name, 4242), JSON.stringify(info), 'EX', HEARTBEAT_TTL_S);
}

/** A job's states as its job.state events went, repeats dropped. */
function stateChanges(events: ServerEvent[], id: string): string[] {
  const states = events.flatMap((e) => (e.type === 'job.state' && e.job.id === id ? [e.job.state] : []));
  return states.filter((s, i) => s !== states[i - 1]);
}

function jobLogs(events: ServerEvent[], id: string): string[] {
  return events.flatMap((e) => (e.type === 'job.log' && e.job_id === id ? [e.message] : []));
}

test('a job whose worker died with no other worker running goes back to queued once no heartbeat lists it, naming the worker; a worker started later takes it over', { timeout: 120_000 }, async (t) => {
  const { connection, closers, redis } = await farmRedis(t);
  const { home, source } = clip(t);
  let taken = false;
  // Both workers with the same --stall-seconds, as a farm's should be: a longer stalled-check interval holds off the other's checks as long.
  const dying = new Worker<FarmJobData, JobResult>(QUEUE_NAME, async (job) => {
    await heartbeat(redis, 'gpu-1', [job.id!]);
    await job.updateProgress({ t: 'taken', worker: 'gpu-1' } satisfies FarmEvent);
    taken = true;
    return new Promise<JobResult>(() => {});
  }, { connection: connection.options, lockDuration: 1000, stalledInterval: 1000 });
  closers.push(() => dying.close(true));
  const daemon = await farmDaemon(home, connection, closers, QUICK);
  const { job } = await daemon.jobs.submit(sampleRequest(source));
  await until(() => taken && daemon.jobs.get(job.id)?.state === 'running', 30_000, 'the worker to take the job');

  // It dies (kill -9): its lock is no longer renewed and its heartbeat expires; no worker is left to find the job stalled.
  await dying.close(true);
  await redis.del(workerKey('gpu-1', 4242));
  await until(() => daemon.jobs.get(job.id)?.state === 'queued', 30_000, 'the job to go back to queued');
  assert.equal(daemon.jobs.get(job.id)!.worker, 'gpu-1');
  assert.deepEqual(daemon.jobs.queueCounts(), { queued: 1, running: 0 });
  assert.ok(jobLogs(daemon.events, job.id).some((m) => m.includes('the worker gpu-1 stopped') && m.includes('waits for a worker')), jobLogs(daemon.events, job.id).join('\n'));

  // A worker starts: its stalled-job check finds the dead worker's lock expired and takes the job.
  const next = new Worker<FarmJobData, JobResult>(QUEUE_NAME, async (j) => {
    await heartbeat(redis, 'gpu-2', [j.id!]);
    await j.updateProgress({ t: 'taken', worker: 'gpu-2' } satisfies FarmEvent);
    return RESULT;
  }, { connection: connection.options, lockDuration: 1000, stalledInterval: 1000 });
  closers.push(() => next.close());
  await until(() => daemon.jobs.get(job.id)?.state === 'succeeded', 60_000, 'the next worker to finish the job');
  assert.equal(daemon.jobs.get(job.id)!.worker, 'gpu-2');
  assert.deepEqual(stateChanges(daemon.events, job.id), ['queued', 'running', 'queued', 'running', 'succeeded']);
});

test('a running farm job no heartbeat lists for a moment goes back to queued, and is running again once its worker\'s heartbeat lists it again', async (t) => {
  const { connection, closers, redis } = await farmRedis(t);
  const worker = fakeWorker(connection, redis, closers);
  const { home, source } = clip(t);
  const daemon = await farmDaemon(home, connection, closers, QUICK);
  const { job } = await daemon.jobs.submit(sampleRequest(source));
  await until(() => daemon.jobs.get(job.id)?.state === 'running', 30_000, 'the worker to take the job');
  await heartbeat(redis, 'gpu-1', []);
  await until(() => daemon.jobs.get(job.id)?.state === 'queued', 30_000, 'the job to go back to queued');
  // Its worker was alive all along (e.g. its heartbeat could not be written for a while).
  await heartbeat(redis, 'gpu-1', [job.id]);
  await until(() => daemon.jobs.get(job.id)?.state === 'running', 30_000, 'the job to be running again');
  worker.finish(RESULT);
  await until(() => daemon.jobs.get(job.id)?.state === 'succeeded', 30_000, 'the job to succeed');
  assert.deepEqual(stateChanges(daemon.events, job.id), ['queued', 'running', 'queued', 'running', 'succeeded']);
  assert.equal(daemon.jobs.get(job.id)!.worker, 'gpu-1');
});
