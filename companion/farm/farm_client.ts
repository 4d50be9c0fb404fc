// The daemon's side of the studio farm: JobService's executor (JobServiceOptions.execute)
// that hands a job to the BullMQ queue instead of running it, and turns the queue's events for
// it back into the runner's events, so the job service records and announces them exactly as
// for a local run. A cancel removes a waiting job or asks the worker running it to stop; a
// daemon shutdown leaves the job in the queue, and the next start attaches to it again (the
// job id is the BullMQ job id, so submitting it again finds the same job). The workers'
// heartbeats say whether a job it shows running still has a live worker.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { LogLevel } from '../../shared/events.ts';
import { FarmWorkerInfo } from '../../shared/health.ts';
import type { JobResult } from '../../shared/jobs.ts';
import { parseJsonAs } from '../../shared/parse_json.ts';
import type { RunJobContext, RunnerEvents } from '../jobs/runner.ts';
import { StopReason } from '../jobs/stop_reason.ts';
import { PipelineError } from '../pipeline/interface.ts';
import {
  CANCEL_CHANNEL, cancelKey, decodeFailure, FarmEvent, HEARTBEAT_INTERVAL_MS, HEARTBEAT_TTL_S, KEEP_FINISHED_S, LogRow, logsRelayedKey,
  previewKey, QUEUE_NAME, WORKER_KEY_PREFIX, type FarmJobData,
} from './protocol.ts';
import { checkReachable, openRedis } from './connect.ts';
import type { QueueConnection } from './queue_url.ts';

/** How long close() waits for Redis to take the last writes. */
const QUIT_WAIT_MS = 1000;

/** A running job's cancel tries to remove it again this often until it ends (its worker may be dead). */
const CANCEL_RETRY_MS = 1000;

/** How often the workers' heartbeats are read, and how long a taken job may go unlisted by all of them. */
export interface FarmClientTiming {
  heartbeatCheckMs: number;
  silentWorkerMs: number;
}

/** A worker's heartbeat expires HEARTBEAT_TTL_S after its last write: unlisted as long again, it is gone. */
const DEFAULT_TIMING: FarmClientTiming = { heartbeatCheckMs: HEARTBEAT_INTERVAL_MS, silentWorkerMs: HEARTBEAT_TTL_S * 1000 };

interface Watcher {
  events: RunnerEvents;
  /** A worker's `taken` reached the job service (for this attempt). */
  taken: boolean;
  /** Since when (performance.now()) no live worker's heartbeat lists the taken job; null: one does. */
  unlistedSince: number | null;
  /** Shown queued again because no heartbeat listed it (its worker may only have been cut off). */
  silent: boolean;
  /** How many lines of the job's BullMQ log reached the job service (LogRow numbers). */
  logsRelayed: number;
  /** Log events that came while the lines a restarted daemon missed are read; then null. */
  heldLogs: Extract<FarmEvent, { t: 'log' }>[] | null;
  completed(result: JobResult): void;
  failed(reason: string): void;
  removed(): void;
}

export class FarmClient {
  private readonly watchers = new Map<string, Watcher>();
  private closed = false;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private checkingHeartbeats = false;

  private constructor(
    private readonly queue: Queue<FarmJobData, JobResult>,
    private readonly queueEvents: QueueEvents,
    private readonly redis: Redis,
    private readonly log: (level: LogLevel, message: string) => void,
    private readonly timing: FarmClientTiming,
  ) {
    queueEvents.on('progress', ({ jobId, data }) => {
      const watcher = this.watchers.get(jobId);
      const parsed = FarmEvent.safeParse(data);
      if (!watcher || !parsed.success) return;
      if (parsed.data.t === 'taken') setTaken(watcher, true);
      if (parsed.data.t === 'log') this.relayLog(jobId, watcher, parsed.data);
      else deliver(watcher.events, parsed.data);
    });
    // Back in the wait list from active: its worker stopped (moveToWait) or died (stalled).
    const requeued = (jobId: string) => {
      const watcher = this.watchers.get(jobId);
      if (!watcher) return;
      setTaken(watcher, false);
      watcher.events.requeued?.('released');
    };
    queueEvents.on('waiting', ({ jobId, prev }) => {
      if (prev === 'active') requeued(jobId);
    });
    queueEvents.on('stalled', ({ jobId }) => requeued(jobId));
    queueEvents.on('completed', ({ jobId, returnvalue }) => {
      const watcher = this.watchers.get(jobId);
      if (!watcher) return;
      const result = typeof returnvalue === 'string' ? (JSON.parse(returnvalue) as JobResult) : (returnvalue as JobResult);
      // A job's record says who ran it even when its `taken` went missing (e.g. Redis restarted).
      void this.ensureTaken(jobId, watcher).finally(() => watcher.completed(result));
    });
    queueEvents.on('failed', ({ jobId, failedReason }) => this.watchers.get(jobId)?.failed(failedReason));
    queueEvents.on('removed', ({ jobId }) => this.watchers.get(jobId)?.removed());
    queueEvents.on('error', (err) => log('error', `queue events: ${err.message}`));
    queue.on('error', (err) => log('error', `queue: ${err.message}`));
    this.heartbeatTimer = setInterval(() => void this.checkHeartbeats(), timing.heartbeatCheckMs).unref();
  }

  /** timing: tests shorten it; default from the workers' heartbeat (protocol.ts). */
  static async open(connection: QueueConnection, log: (level: LogLevel, message: string) => void, timing = DEFAULT_TIMING): Promise<FarmClient> {
    await checkReachable(connection);
    const queue = new Queue<FarmJobData, JobResult>(QUEUE_NAME, { connection: connection.options });
    const queueEvents = new QueueEvents(QUEUE_NAME, { connection: connection.options });
    const redis = openRedis(connection, (m) => log('error', m));
    await Promise.all([queue.waitUntilReady(), queueEvents.waitUntilReady()]);
    return new FarmClient(queue, queueEvents, redis, log, timing);
  }

  /** JobServiceOptions.execute: one attempt of a job, run by whichever worker takes it. */
  readonly execute = (ctx: RunJobContext): Promise<JobResult> => {
    const id = ctx.job.id;
    const { signal } = ctx;
    return new Promise<JobResult>((resolve, reject) => {
      const settle = (fn: () => void) => {
        if (this.watchers.get(id) !== watcher) return;
        this.watchers.delete(id);
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      const aborted = () => new DOMException(`job aborted: ${signal.reason instanceof Error ? signal.reason.message : 'canceled'}`, 'AbortError');
      const watcher: Watcher = {
        events: ctx.events,
        taken: false,
        unlistedSince: null,
        silent: false,
        logsRelayed: 0,
        heldLogs: [],
        completed: (result) => settle(() => resolve(result)),
        failed: (reason) => settle(() => reject(signal.aborted ? aborted() : failure(reason))),
        removed: () => settle(() => reject(signal.aborted ? aborted() : new PipelineError('internal', 'the job was removed from the farm queue'))),
      };
      const onAbort = () => {
        if (signal.reason instanceof StopReason && signal.reason.kind === 'shutdown') {
          // The job stays in the queue; the next daemon start attaches to it again.
          settle(() => reject(aborted()));
          return;
        }
        void this.cancel(id).catch((err: unknown) => this.log('error', `job ${id.slice(0, 8)}: cancel on the farm failed: ${err instanceof Error ? err.message : err}`));
      };
      this.watchers.set(id, watcher);
      signal.addEventListener('abort', onAbort, { once: true });
      this.attach(ctx, watcher).then(
        (finished) => {
          if (finished) finished.result !== undefined ? watcher.completed(finished.result) : watcher.failed(finished.reason);
        },
        (err: unknown) => settle(() => reject(err)),
      );
    });
  };

  /** Adds the job (or finds it, after a daemon restart); a job that already ended says how. */
  private async attach(ctx: RunJobContext, watcher: Watcher): Promise<{ result?: JobResult; reason: string } | null> {
    const id = ctx.job.id;
    const existing = await Job.fromId<FarmJobData, JobResult>(this.queue, id);
    if (existing) {
      const state = await existing.getState();
      ctx.events.log('info', `attached to the farm's job (${state})`);
      await this.catchUp(id, watcher);
      if (state === 'active' || state === 'completed') await this.ensureTaken(id, watcher);
      if (state === 'completed') return { result: existing.returnvalue, reason: '' };
      if (state === 'failed') return { reason: existing.failedReason };
      return null;
    }
    // A new job's log has nothing to catch up with: its lines go out as they come, even those
    // a worker that takes it at once sends before the add's reply is here; so this line goes
    // first (an add that fails ends the attempt with its error, logged next).
    watcher.heldLogs = null;
    ctx.events.log('info', 'sent to the farm; waiting for a worker');
    await this.queue.add('edit', { job: ctx.job }, {
      jobId: id,
      // A failure is final, as in the local runner; a worker that dies is BullMQ's stalled-job
      // check's business (the job goes back to the queue once, then fails).
      attempts: 1,
      removeOnComplete: { age: KEEP_FINISHED_S },
      removeOnFail: { age: KEEP_FINISHED_S },
    });
    return null;
  }

  /**
   * What happened to a job while no daemon followed it: the lines of its log this daemon's
   * job service has not had (after the count relayed before it stopped), then its latest
   * preview. Log events that come meanwhile wait, and only the ones after go out.
   */
  private async catchUp(id: string, watcher: Watcher): Promise<void> {
    const relayed = Number(await this.redis.get(logsRelayedKey(id))) || 0;
    const { logs } = await this.queue.getJobLogs(id, relayed);
    for (const row of logs) {
      const line = parseJsonAs(LogRow, row);
      if (line) watcher.events.log(line.level, `[worker] ${line.message}`);
    }
    const held = watcher.heldLogs ?? [];
    watcher.heldLogs = null;
    watcher.logsRelayed = relayed + logs.length;
    if (logs.length > 0) this.rememberRelayed(id, watcher.logsRelayed);
    for (const event of held) this.relayLog(id, watcher, event);
    const preview = parseJsonAs(FarmEvent, await this.redis.get(previewKey(id)));
    if (preview) deliver(watcher.events, preview);
  }

  /** A log line, once, in order; how many were relayed is kept for the next daemon start. */
  private relayLog(id: string, watcher: Watcher, event: Extract<FarmEvent, { t: 'log' }>): void {
    if (watcher.heldLogs) {
      watcher.heldLogs.push(event);
      return;
    }
    if (event.n <= watcher.logsRelayed) return;
    watcher.logsRelayed = event.n;
    deliver(watcher.events, event);
    this.rememberRelayed(id, event.n);
  }

  private rememberRelayed(id: string, count: number): void {
    this.redis.set(logsRelayedKey(id), String(count), 'EX', KEEP_FINISHED_S).catch((err: unknown) => {
      this.log('warn', `job ${id.slice(0, 8)}: could not note its relayed log lines: ${err instanceof Error ? err.message : err}`);
    });
  }

  /** Tells the job service who took the job, from BullMQ's record of it, unless it knows. */
  private async ensureTaken(id: string, watcher: Watcher): Promise<void> {
    if (watcher.taken) return;
    const job = await Job.fromId(this.queue, id).catch(() => undefined);
    setTaken(watcher, true);
    watcher.events.taken?.(job?.processedBy ?? 'unknown');
  }

  /**
   * BullMQ finds a dead worker's job stalled only in a live worker: with none running, the job
   * would look running here for ever. A taken job that no live worker's heartbeat has listed
   * for silentWorkerMs (its worker's heartbeat expired: it is gone) is shown queued again,
   * waiting for a worker, which takes it over once the dead one's lock expired; one a heartbeat
   * lists again (its worker was only cut off) is shown running again. A failed read decides nothing.
   */
  private async checkHeartbeats(): Promise<void> {
    const followed = [...this.watchers].filter(([, w]) => w.taken || w.silent);
    if (followed.length === 0 || this.checkingHeartbeats) return;
    this.checkingHeartbeats = true;
    try {
      const workers = await this.workers();
      const now = performance.now();
      for (const [id, watcher] of followed) {
        if (this.watchers.get(id) !== watcher) continue;
        const listedBy = workers.find((w) => w.jobs.includes(id));
        if (listedBy) {
          watcher.unlistedSince = null;
          if (!watcher.silent) continue;
          setTaken(watcher, true);
          watcher.events.taken?.(listedBy.name);
        } else if (watcher.taken && now - (watcher.unlistedSince ??= now) >= this.timing.silentWorkerMs) {
          setTaken(watcher, false);
          watcher.silent = true;
          watcher.events.requeued?.('silent');
        }
      }
    } catch (err) {
      this.log('debug', `workers' heartbeats not read: ${err instanceof Error ? err.message : err}`);
    } finally {
      this.checkingHeartbeats = false;
    }
  }

  /**
   * JobServiceOptions.forget: the job's entry in the queue (its data and log) and the keys kept
   * for a daemon that was down while it ran or ended; the keys' expiry is the safety net for a
   * job this misses. One a worker still holds (its daemon gave up on it, e.g. on a full disk,
   * and asked it to stop) is left to that worker and BullMQ's own removal of finished jobs.
   */
  readonly forget = async (id: string): Promise<void> => {
    // 0: locked by a worker; 1: removed, or no such job.
    if (await this.queue.remove(id) === 0) return;
    await this.redis.del(previewKey(id), logsRelayedKey(id), cancelKey(id));
  };

  /** The workers whose heartbeat is current, by name. */
  async workers(): Promise<FarmWorkerInfo[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redis.scan(cursor, 'MATCH', `${WORKER_KEY_PREFIX}*`, 'COUNT', 200);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    const values = keys.length === 0 ? [] : await this.redis.mget(...keys);
    const workers: FarmWorkerInfo[] = [];
    for (const value of values) {
      // A heartbeat that is no longer (or never was) a worker's is not one: skipped, not fatal.
      const worker = parseJsonAs(FarmWorkerInfo, value);
      if (worker) workers.push(worker);
    }
    return workers.sort((a, b) => a.name.localeCompare(b.name) || a.pid - b.pid);
  }

  /**
   * A waiting job is simply removed ('removed' settles it); a running one is locked by its
   * worker, which the channel reaches. The removal is tried again until the job ends: a worker
   * that died holding it, with no other worker to find it stalled, leaves it locked only until
   * its lock expires.
   */
  private async cancel(id: string): Promise<void> {
    await this.redis.set(cancelKey(id), '1', 'EX', 24 * 3600);
    const watcher = this.watchers.get(id);
    let told = false;
    for (;;) {
      const job = await Job.fromId(this.queue, id);
      if (job && await job.remove().then(() => true, () => false)) return;
      if (!told) await this.redis.publish(CANCEL_CHANNEL, id);
      told = true;
      await sleep(CANCEL_RETRY_MS, undefined, { ref: false });
      if (this.closed || this.watchers.get(id) !== watcher) return;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    await Promise.allSettled([this.queueEvents.close(), this.queue.close()]);
    // QUIT first when connected: the count of relayed log lines written last reaches Redis. Not
    // waited for long: a Redis that went away meanwhile must not hold up the daemon's stop.
    if (this.redis.status === 'ready') await Promise.race([this.redis.quit().catch(() => {}), sleep(QUIT_WAIT_MS, undefined, { ref: false })]);
    this.redis.disconnect();
  }
}

/** Whether a worker has the job, as last told to the job service; either way its heartbeat watch starts afresh. */
function setTaken(watcher: Watcher, taken: boolean): void {
  watcher.taken = taken;
  watcher.silent = false;
  watcher.unlistedSince = null;
}

function deliver(events: RunnerEvents, e: FarmEvent): void {
  switch (e.t) {
    case 'stageStart':
      return events.stageStart(e.stage);
    case 'progress': {
      const { t: _, ...progress } = e;
      return events.progress(progress);
    }
    case 'stageEnd':
      return events.stageEnd(e.stage);
    case 'stageSkipped':
      return events.stageSkipped(e.stage);
    case 'log':
      return events.log(e.level, `[worker] ${e.message}`);
    case 'taken':
      return events.taken?.(e.worker);
    case 'preview':
      return events.preview({ index: e.index, mime: e.mime, data: Buffer.from(e.data, 'base64'), width: e.width, height: e.height });
  }
}

/** The worker's JobError as an error the job service classifies to the same code. */
function failure(reason: string): Error {
  const error = decodeFailure(reason);
  return new PipelineError(error.code, error.message);
}
