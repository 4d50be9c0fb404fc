// Downloading a model from the panel: `POST /v1/models/pull` starts a model job, which reports
// `model.progress` events on `/v1/events` (the whole job each time: state, bytes, rate, ETA).
import { z } from 'zod';
import { JobError } from './errors.ts';
import { ModelId } from './jobs.ts';

export const ModelPullRequest = z.strictObject({
  /** A hub model id, e.g. `stabilityai/stable-diffusion-2-1-base`. */
  id: ModelId.refine((id) => id.includes('/'), { error: 'id must be a hub model id (org/name)' }),
  /** Branch, tag or commit (default `main`). */
  revision: z.string().min(1).max(200).regex(/^[\w.\-/]+$/, { error: 'revision may hold letters, digits, . _ - /' }).optional(),
  /** Preferred weight precision (default fp16; the other one is used when the repo lacks it). */
  precision: z.enum(['fp16', 'fp32']).optional(),
});
export type ModelPullRequest = z.infer<typeof ModelPullRequest>;

export const ModelJobState = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']);
export type ModelJobState = z.infer<typeof ModelJobState>;

export const ModelJobId = z.uuid({ error: 'model job id must be a UUID' });

export const ModelJob = z.strictObject({
  id: ModelJobId,
  model_id: ModelId,
  revision: z.string(),
  precision: z.enum(['fp16', 'fp32']),
  state: ModelJobState,
  /** Bytes downloaded (by this job and earlier attempts) out of the bytes the pull downloads. */
  bytes_done: z.number().int().min(0),
  bytes_total: z.number().int().min(0),
  /** Transfer rate over the last seconds; 0 until measured. */
  bytes_per_second: z.number().min(0),
  /** Seconds left at that rate; null while unknown. */
  eta_s: z.number().min(0).nullable(),
  /** The file being downloaded. */
  file: z.string().nullable(),
  error: JobError.nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type ModelJob = z.infer<typeof ModelJob>;

export const ModelPullResponse = z.strictObject({ job: ModelJob, created: z.boolean() });
export type ModelPullResponse = z.infer<typeof ModelPullResponse>;

export const ModelJobListResponse = z.strictObject({ jobs: z.array(ModelJob) });

export const ModelProgressEvent = z.strictObject({
  type: z.literal('model.progress'),
  job: ModelJob,
});
