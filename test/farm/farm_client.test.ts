// The daemon's side of the studio farm against a real redis-server, with the worker's side
// played by a BullMQ worker in this process that writes what `tokenflow worker` writes (its log
// rows, log events and latest preview, protocol.ts): what a daemon that was down while a job
// ran finds when it attaches again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { FarmClient } from '../../companion/farm/farm_client.ts';
import { previewKey, QUEUE_NAME, workerKey, type FarmEvent, type FarmJobData } from '../../companion/farm/protocol.ts';
import type { QueueConnection } from '../../companion/farm/queue_url.ts';
import type { RunJobContext, RunnerEvents } from '../../companion/jobs/runner.ts';
import { StopReason } from '../../companion/jobs/stop_reason.ts';
import { encodePngRgb } from '../../companion/util/png.ts';
import type { FarmWorkerInfo } from '../../shared/health.ts';
import type { JobRecord, JobResult } from '../../shared/jobs.ts';
import { sampleRecord } from '../jobs/helpers.ts';
import { farmRedis, RESULT, type Closers } from './helpers.ts';
import { until } from '../helpers/served_daemon.ts';


/** What the job service hears from an attempt: its log lines and the frames of its previews. */
function recording(job: JobRecord, controller: AbortController) {
  const logs: string[] = [];
  const previews: number[] = [];
  /** The log lines and the workers' takes, in the order they came. */
  const timeline: string[] = [];
  const ignore = () => {};
  const events: RunnerEvents = {
    stageStart: ignore, progress: ignore, stageEnd: ignore, stageSkipped: ignore, requeued: ignore,
    taken: (worker) => timeline.push(`taken by ${worker}`),
    preview: (p) => previews.push(p.index),
    log: (_level, message) => {
      logs.push(message);
      timeline.push(message);
    },
  };
  // The executor reads only the job, its signal and its events.
  const ctx = { job, signal: controller.signal, events } as unknown as RunJobContext;
  return { ctx, logs, previews, timeline, workerLogs: () => logs.filter((l) => l.startsWith('[worker] ')) };
}



/** The worker's side: takes the job, then writes as the test says, until it is told to finish. */
function writingWorker(connection: QueueConnection, closers: Closers) {
  let taken: Job<FarmJobData, JobResult> | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker<FarmJobData, JobResult>(QUEUE_NAME, async (job) => {
    taken = job;
    await finished;
    return RESULT;
  }, { connection: connection.options });
  closers.push(() => {
    finish();
    return worker.close();
  });
  return {
    taken: () => taken,
    finish,
    /** A log line as `tokenflow worker` writes it: the job's log row, then its event. */
    async line(message: string, n: number): Promise<void> {
      assert.equal(await taken!.log(JSON.stringify({ level: 'info', message })), n);
      await taken!.updateProgress({ t: 'log', level: 'info', message, n } satisfies FarmEvent);
    },
  };
}

test('a daemon that attaches again to a running farm job gets the log lines of the time it was down, each once, and the latest preview', async (t) => {
  const { closers, connection, redis } = await farmRedis(t);
  const daemonLog: string[] = [];
  const log = (_level: string, message: string) => daemonLog.push(message);
  const { taken, finish, line } = writingWorker(connection, closers);

  const record = sampleRecord();
  const firstStop = new AbortController();
  const first = recording(record, firstStop);
  const firstClient = await FarmClient.open(connection, log);
  const firstRun = firstClient.execute(first.ctx);
  await until(() => taken() !== undefined, 30_000, 'the worker to take the job');
  await line('line 1', 1);
  await line('line 2', 2);
  await until(() => first.workerLogs().length === 2, 30_000, 'the first daemon to relay two lines');
  // The daemon stops: the job stays on the farm.
  firstStop.abort(new StopReason('shutdown', 'the daemon is stopping'));
  await assert.rejects(firstRun, { name: 'AbortError' });
  await firstClient.close();

  // Meanwhile the worker logs on and sends a preview.
  await line('line 3', 3);
  await line('line 4', 4);
  const image = encodePngRgb(new Uint8Array(4 * 2 * 3).fill(200), 4, 2);
  const preview: FarmEvent = { t: 'preview', index: 5, mime: 'image/png', data: Buffer.from(image).toString('base64'), width: 4, height: 2 };
  await redis.set(previewKey(record.id), JSON.stringify(preview));

  const second = recording(record, new AbortController());
  const secondClient = await FarmClient.open(connection, log);
  closers.push(() => secondClient.close());
  const secondRun = secondClient.execute(second.ctx);
  await until(() => second.workerLogs().length === 2 && second.previews.length === 1, 30_000, 'the restarted daemon to catch up');
  assert.deepEqual(second.logs, ["attached to the farm's job (active)", '[worker] line 3', '[worker] line 4']);
  assert.deepEqual(second.previews, [5]);
  // A line's event that comes again (it was written before the daemon caught up) is not repeated; the next one comes.
  await taken()!.updateProgress({ t: 'log', level: 'info', message: 'line 4', n: 4 } satisfies FarmEvent);
  await line('line 5', 5);
  await until(() => second.workerLogs().length === 3, 30_000, 'the next line');
  finish();
  assert.deepEqual(await secondRun, RESULT);
  assert.deepEqual(first.workerLogs(), ['[worker] line 1', '[worker] line 2']);
  assert.deepEqual(second.workerLogs(), ['[worker] line 3', '[worker] line 4', '[worker] line 5']);
});

test('a worker that takes a new job and logs while it is still being added to the queue: the job service hears, in order, that it was sent, taken, and the line', async (t) => {
  const { closers, connection } = await farmRedis(t);
  const { taken, finish, line } = writingWorker(connection, closers);
  // The order a busy daemon may see: the worker takes the job and logs, and the daemon's queue
  // events hand that on, before the reply to its add comes back.
  let progressEvents = 0;
  const emit = QueueEvents.prototype.emit;
  t.mock.method(QueueEvents.prototype, 'emit', function (this: QueueEvents, ...args: Parameters<QueueEvents['emit']>) {
    if (args[0] === 'progress') progressEvents++;
    return emit.apply(this, args);
  });
  const add = Queue.prototype.add;
  t.mock.method(Queue.prototype, 'add', async function (this: Queue, ...args: Parameters<Queue['add']>) {
    const job = await add.apply(this, args);
    await until(() => taken() !== undefined, 30_000, 'the worker to take the job');
    await taken()!.updateProgress({ t: 'taken', worker: 'w1' } satisfies FarmEvent);
    await line('line 1', 1);
    await until(() => progressEvents === 2, 30_000, 'the daemon\'s queue events to hand them on');
    return job;
  });

  const run = recording(sampleRecord(), new AbortController());
  const client = await FarmClient.open(connection, () => {});
  closers.push(() => client.close());
  const result = client.execute(run.ctx);
  await until(() => progressEvents === 2, 30_000, 'the take and the line');
  finish();
  assert.deepEqual(await result, RESULT);
  assert.deepEqual(run.timeline, ['sent to the farm; waiting for a worker', 'taken by w1', '[worker] line 1']);
});

test('cancel of a job whose worker died holding it, with no worker left to find it stalled: removed once its lock expires, the job ends canceled', { timeout: 120_000 }, async (t) => {
  const { closers, connection, queue } = await farmRedis(t);
  let taken = false;
  const worker = new Worker<FarmJobData, JobResult>(QUEUE_NAME, async () => {
    taken = true;
    return new Promise<JobResult>(() => {});
  }, { connection: connection.options, lockDuration: 1000 });
  closers.push(() => worker.close(true));
  const record = sampleRecord();
  const controller = new AbortController();
  const client = await FarmClient.open(connection, () => {});
  closers.push(() => client.close());
  const run = client.execute(recording(record, controller).ctx);
  await until(() => taken, 30_000, 'the worker to take the job');
  // It dies: its lock is not renewed any more, and neither it nor another worker hears the cancel.
  await worker.close(true);
  controller.abort(new StopReason('cancel', 'canceled by the user'));
  await assert.rejects(run, { name: 'AbortError' });
  assert.equal(await queue.getJob(record.id), undefined);
});

test('the worker list skips a heartbeat key that holds no JSON or another shape, and lists the valid ones', async (t) => {
  const { connection, closers, redis } = await farmRedis(t);
  const client = await FarmClient.open(connection, () => {});
  closers.push(() => client.close());
  const now = new Date().toISOString();
  const valid: FarmWorkerInfo = {
    name: 'w1', host: 'render-1', pid: 42, device: 'cuda:0', device_name: 'NVIDIA RTX 4090', concurrency: 1, jobs: [], started_at: now, heartbeat_at: now,
  };
  await redis.set(workerKey('w1', 42), JSON.stringify(valid));
  await redis.set(workerKey('w2', 43), 'not json {');
  await redis.set(workerKey('w3', 44), JSON.stringify({ name: 'w3' }));
  assert.deepEqual(await client.workers(), [valid]);
});
