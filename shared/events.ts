// WebSocket `/v1/events` messages, server → client. One schema per event, joined on `type`.
// Clients should ignore (not fail on) a `type` they do not know: a newer daemon may add some.
import { z } from 'zod';
import { API_VERSION } from './api.ts';
import { ErrorCode } from './errors.ts';
import { JobId, JobRecord, Stage } from './jobs.ts';
import { ModelProgressEvent } from './model_pulls.ts';

/**
 * First message on every (re)connect: the daemon and the current state of every active job.
 * The latest `job.preview` of each active job that sent one follows it.
 */
export const HelloEvent = z.strictObject({
  type: z.literal('hello'),
  server_version: z.string(),
  api_version: z.literal(API_VERSION),
  /** Queued and running jobs, in queue order. */
  jobs: z.array(JobRecord),
});

/** A job was created or changed state, stage, result or error. Carries the whole record. */
export const JobStateEvent = z.strictObject({
  type: z.literal('job.state'),
  job: JobRecord,
});

export const JobProgressEvent = z.strictObject({
  type: z.literal('job.progress'),
  job_id: JobId,
  stage: Stage,
  done: z.number().int().min(0),
  total: z.number().int().min(0),
  /** Seconds left for the whole job; null until rates are measured. */
  eta_s: z.number().min(0).nullable(),
  /** Stage-weighted overall progress, 0..1 (1 only once the render is written). */
  overall: z.number().min(0).max(1),
});

/** Largest preview image, base64 characters (about 3 MiB of image). */
export const MAX_PREVIEW_BASE64 = 4_000_000;

/** An edited keyframe (small image), throttled per job. */
export const JobPreviewEvent = z.strictObject({
  type: z.literal('job.preview'),
  job_id: JobId,
  /** Frame index within the edited range. */
  index: z.number().int().min(0),
  mime: z.enum(['image/jpeg', 'image/png']),
  data: z.base64().max(MAX_PREVIEW_BASE64),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

export const JobLogEvent = z.strictObject({
  type: z.literal('job.log'),
  job_id: JobId,
  level: LogLevel,
  message: z.string(),
  time: z.iso.datetime(),
});

export const JobDeletedEvent = z.strictObject({
  type: z.literal('job.deleted'),
  job_id: JobId,
});

/** A problem with the connection itself (e.g. an unparseable client message). */
export const ErrorEvent = z.strictObject({
  type: z.literal('error'),
  code: ErrorCode,
  message: z.string(),
});

export const ServerEvent = z.discriminatedUnion('type', [
  HelloEvent,
  JobStateEvent,
  JobProgressEvent,
  JobPreviewEvent,
  JobLogEvent,
  JobDeletedEvent,
  ModelProgressEvent,
  ErrorEvent,
]);
export type ServerEvent = z.infer<typeof ServerEvent>;
export type ServerEventType = ServerEvent['type'];
/** The event of one `type`, e.g. `EventOf<'job.progress'>`. */
export type EventOf<T extends ServerEventType> = Extract<ServerEvent, { type: T }>;
