// `GET /v1/health` and `GET /v1/models`.
import { z } from 'zod';
import { API_VERSION } from './api.ts';
import { JobId, ModelId } from './jobs.ts';

/**
 * A studio farm worker (`tokenflow worker`) as its heartbeat in the farm's Redis describes it;
 * the heartbeat expires when the worker stops renewing it (stopped, dead, cut off).
 */
export const FarmWorkerInfo = z.strictObject({
  /** `--name`, by default the host name. */
  name: z.string().min(1).max(200),
  host: z.string(),
  pid: z.number().int().positive(),
  /** Its execution provider (e.g. "cuda:0", "cpu"); null when none could be loaded. */
  device: z.string().nullable(),
  device_name: z.string().nullable(),
  concurrency: z.number().int().positive(),
  /** The jobs it is running now. */
  jobs: z.array(JobId),
  started_at: z.iso.datetime(),
  heartbeat_at: z.iso.datetime(),
});
export type FarmWorkerInfo = z.infer<typeof FarmWorkerInfo>;

export const Health = z.strictObject({
  /** 'degraded': the daemon answers but cannot run edits (e.g. no model, no runtime). */
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  api_version: z.literal(API_VERSION),
  /** The execution provider in use, e.g. "cuda:0", "coreml", "cpu"; null if none loaded. */
  device: z.string().nullable(),
  /** Ids of the models that are installed and usable. */
  models: z.array(ModelId),
  default_model: ModelId.nullable(),
  queue: z.strictObject({ queued: z.number().int().min(0), running: z.number().int().min(0) }),
  /** The GPU's name (e.g. "NVIDIA H200") when the provider runs on one and it can be told. */
  device_name: z.string().nullable().optional(),
  /** Free bytes in the render folder (the panel's setup checklist); null when unknown. */
  output_free_bytes: z.number().int().min(0).nullable().optional(),
  /**
   * Studio farm (`serve --queue`): the workers whose heartbeat is current, by name; absent
   * when the daemon runs its jobs itself. `queue` then counts the daemon's own jobs: queued
   * ones wait in the farm's queue, running ones are on workers.
   */
  workers: z.array(FarmWorkerInfo).optional(),
});
export type Health = z.infer<typeof Health>;

export const ModelInfo = z.strictObject({
  id: ModelId,
  /** Folder of the diffusers weights on this machine. */
  path: z.string(),
  is_default: z.boolean(),
  /** Bytes of weights on disk; null if not measured. */
  size_bytes: z.number().int().min(0).nullable(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const ModelListResponse = z.strictObject({ models: z.array(ModelInfo) });
export type ModelListResponse = z.infer<typeof ModelListResponse>;

/**
 * What `GET /v1/health` answers without a token: enough for the panel to recognise a
 * TokenFlow daemon of a compatible API before pairing, nothing about jobs, files or versions.
 */
export const PublicHealth = z.strictObject({
  service: z.literal('tokenflow'),
  api_version: z.literal(API_VERSION),
  /** false: send the bearer token for the full health (and every other route). */
  authenticated: z.literal(false),
});
export type PublicHealth = z.infer<typeof PublicHealth>;
