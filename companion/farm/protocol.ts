// What the daemon and the farm's workers exchange through BullMQ: the queue's name, a job's
// data (the daemon's job record), the runner's events carried as job progress, a failure as
// the job's failed reason, and the cancel request for a job a worker is running.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { JobError } from '../../shared/errors.ts';
import { LogLevel, MAX_PREVIEW_BASE64 } from '../../shared/events.ts';
import type { JobRecord } from '../../shared/jobs.ts';
import { Stage, StageProgress } from '../../shared/jobs.ts';

export const QUEUE_NAME = 'tokenflow-jobs';

/** Pub/sub channel a daemon publishes a job id on to cancel it where it runs. */
export const CANCEL_CHANNEL = 'tokenflow:cancel';

/** Set (a day) on cancel too, for a worker that takes the job just as it is canceled. */
export function cancelKey(jobId: string): string {
  return `tokenflow:canceled:${jobId}`;
}

/**
 * Finished BullMQ jobs (with their logs), and the keys below, are kept this long, for a daemon
 * that was down when one ended; its daemon removes them once it has recorded the outcome, or
 * deleted the job (FarmClient.forget).
 */
export const KEEP_FINISHED_S = 7 * 24 * 3600;

/** A job's latest preview (its `preview` FarmEvent as JSON), for a daemon that was down when it came. */
export function previewKey(jobId: string): string {
  return `tokenflow:preview:${jobId}`;
}

/** The worker's write of previewKey: expiring by itself, for a job its daemon never forgets. */
export function savePreview(redis: Redis, jobId: string, event: Extract<FarmEvent, { t: 'preview' }>): Promise<unknown> {
  return redis.set(previewKey(jobId), JSON.stringify(event), 'EX', KEEP_FINISHED_S);
}

/**
 * How many of a job's log lines (BullMQ's job log, one JSON LogRow each) its daemon has
 * relayed: a restarted daemon relays the ones after them.
 */
export function logsRelayedKey(jobId: string): string {
  return `tokenflow:logs-relayed:${jobId}`;
}

/** A line of a job's log as the worker adds it to BullMQ's job log. */
export const LogRow = z.object({ level: LogLevel, message: z.string() });
export type LogRow = z.infer<typeof LogRow>;

/** A worker's heartbeat (shared/health.ts FarmWorkerInfo as JSON), one key per worker process. */
export function workerKey(name: string, pid: number): string {
  return `${WORKER_KEY_PREFIX}${name}:${pid}`;
}
export const WORKER_KEY_PREFIX = 'tokenflow:worker:';

/** A worker renews its heartbeat this often; it expires after HEARTBEAT_TTL_S without one. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const HEARTBEAT_TTL_S = 15;

export interface FarmJobData {
  job: JobRecord;
}

/** One runner event (RunnerEvents), carried as the BullMQ job's progress. */
export const FarmEvent = z.discriminatedUnion('t', [
  /** First of every attempt: which worker took the job. */
  z.object({ t: z.literal('taken'), worker: z.string() }),
  z.object({ t: z.literal('stageStart'), stage: Stage }),
  z.object({ t: z.literal('progress'), ...StageProgress.shape }),
  z.object({ t: z.literal('stageEnd'), stage: Stage }),
  z.object({ t: z.literal('stageSkipped'), stage: Stage }),
  /** `n`: the line's number in the job's BullMQ log (LogRow), from 1. */
  z.object({ t: z.literal('log'), level: LogLevel, message: z.string(), n: z.number().int().positive() }),
  /** An edited keyframe (PipelinePreview, its image as base64), thinned out by the worker. */
  z.object({
    t: z.literal('preview'), index: z.number().int().min(0), mime: z.enum(['image/jpeg', 'image/png']),
    data: z.base64().max(MAX_PREVIEW_BASE64), width: z.number().int().positive(), height: z.number().int().positive(),
  }),
]);
export type FarmEvent = z.infer<typeof FarmEvent>;

/** A failed job's reason: its JobError as JSON (the worker classified what its run threw). */
export function encodeFailure(error: JobError): string {
  return JSON.stringify(error);
}

export function decodeFailure(reason: string): JobError {
  try {
    return JobError.parse(JSON.parse(reason));
  } catch {
    // BullMQ's own reasons (e.g. a job stalled more often than allowed) are plain text.
    return { code: 'internal', message: reason };
  }
}
