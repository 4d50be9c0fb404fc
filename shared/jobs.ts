// Job request and job record: what the panel sends to `POST /v1/jobs` and what the daemon
// keeps, lists and streams. Field names are snake_case on the wire, like the reference
// TokenFlow config (`guidance_scale`, `pnp_attn_t`).
import { z } from 'zod';
import { JobError } from './errors.ts';
import { JobParameterOverrides, JobParameters } from './parameters.ts';
import { ticksFromSeconds } from './ticks.ts';

// ---------------------------------------------------------------------------------------------
// Small field types

/** POSIX (`/x`), Windows drive (`C:\x`, `C:/x`) or UNC (`\\host\share`) absolute path. */
const ABSOLUTE_PATH = /^(\/|[A-Za-z]:[\\/]|\\\\[^\\])/;

export const AbsolutePath = z
  .string()
  .min(1, { error: 'path must not be empty' })
  .max(4096, { error: 'path is longer than 4096 characters' })
  .refine((p) => !p.includes('\0'), { error: 'path must not contain NUL characters' })
  .refine((p) => ABSOLUTE_PATH.test(p), { error: 'path must be absolute' });

/** Premiere time: 254016000000 ticks per second, as an exact decimal string. */
export const Ticks = z
  .string()
  .regex(/^\d{1,20}$/, { error: 'ticks must be a whole number as a decimal string, e.g. "254016000000"' });

const Seconds = z
  .number({ error: 'seconds must be a number' })
  .min(0, { error: 'seconds must not be negative' })
  .max(86_400, { error: 'seconds must be at most 86400 (24 h)' });

export const IdempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, {
    error: 'idempotency_key must be 1 to 128 characters of A-Z a-z 0-9 . _ : -',
  });

/** Preset names are slugs: they appear in URLs (`/v1/presets/:name`) and file names. */
export const PresetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, {
    error: 'preset name must be 1 to 64 characters of a-z 0-9 _ - (starting with a letter or digit)',
  });

/** A model id: a local name or a hub id `org/name`. Segments cannot be `.` or `..`. */
export const ModelId = z
  .string()
  .max(200, { error: 'model id is longer than 200 characters' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/, {
    error: 'model id must look like "name" or "org/name" (letters, digits, . _ -)',
  });

/** The model that renders a job: a model id, or the absolute path of a model folder. */
export const ModelRef = z.union([ModelId, AbsolutePath], { error: 'model must be a model id like "org/name" or an absolute folder path' });

// ---------------------------------------------------------------------------------------------
// Source range

/**
 * The edited range in the source media's own time (not sequence time). Exactly one form:
 * `start_ticks`/`end_ticks` (what the panel reads from Premiere) or `start_seconds`/`end_seconds`
 * (for people and scripts). `normalizeRange` turns either into ticks
 * (seconds are read exactly as the decimal they print as: 1.1 s is 279417600000 ticks).
 */
const rangeFields = {
  start_ticks: Ticks.optional(),
  end_ticks: Ticks.optional(),
  start_seconds: Seconds.optional(),
  end_seconds: Seconds.optional(),
};
type RangeKey = keyof typeof rangeFields;

export const SourceRange = z
  .strictObject(rangeFields)
  .superRefine((range, ctx) => {
    const ticks = range.start_ticks !== undefined || range.end_ticks !== undefined;
    const seconds = range.start_seconds !== undefined || range.end_seconds !== undefined;
    if (ticks && seconds) {
      ctx.addIssue({ code: 'custom', message: 'give the range either in ticks or in seconds, not both' });
      return;
    }
    if (!ticks && !seconds) {
      ctx.addIssue({ code: 'custom', message: 'range needs start_ticks and end_ticks (or start_seconds and end_seconds)' });
      return;
    }
    const [startKey, endKey]: RangeKey[] = ticks ? ['start_ticks', 'end_ticks'] : ['start_seconds', 'end_seconds'];
    for (const key of [startKey, endKey]) {
      if (range[key] === undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required with ${ticks ? 'ticks' : 'seconds'}` });
        return;
      }
    }
    // Refinements run even when a field failed its own check; compare only valid values.
    if (![startKey, endKey].every((key) => rangeFields[key].safeParse(range[key]).success)) return;
    const { start, end } = rangeToBigInt(range);
    if (end <= start) ctx.addIssue({ code: 'custom', path: [endKey], message: `${endKey} must be after ${startKey}` });
  });
export type SourceRange = z.infer<typeof SourceRange>;

function rangeToBigInt(range: SourceRange): { start: bigint; end: bigint } {
  if (range.start_ticks !== undefined && range.end_ticks !== undefined) {
    return { start: BigInt(range.start_ticks), end: BigInt(range.end_ticks) };
  }
  if (range.start_seconds !== undefined && range.end_seconds !== undefined) {
    return { start: ticksFromSeconds(range.start_seconds), end: ticksFromSeconds(range.end_seconds) };
  }
  throw new RangeError('range has neither a complete ticks form nor a complete seconds form');
}

/** The one place a range becomes ticks: either form in, decimal tick strings out. */
export function normalizeRange(range: SourceRange): { start_ticks: string; end_ticks: string } {
  const { start, end } = rangeToBigInt(range);
  return { start_ticks: start.toString(), end_ticks: end.toString() };
}

// ---------------------------------------------------------------------------------------------
// Prompts (the numeric parameters are in parameters.ts)

/** The reference's default negative prompt (run_tokenflow_pnp.py). */
export const DEFAULT_NEGATIVE_PROMPT = 'ugly, blurry, low res, unrealistic, unaesthetic';
/**
 * Default source (inversion) prompt. The reference's default ("a woman running") describes its
 * demo clip only; an empty prompt is the neutral choice (pnp-diffusers' source branch).
 */
export const DEFAULT_SOURCE_PROMPT = '';

// ---------------------------------------------------------------------------------------------
// Request

export const OutputKind = z.enum(['video', 'video+audio']);
export type OutputKind = z.infer<typeof OutputKind>;
export const Codec = z.enum(['prores', 'h264']);
export type Codec = z.infer<typeof Codec>;

const PromptText = (name: string) => z.string().max(2000, { error: `${name} is longer than 2000 characters` });

/** Body of `POST /v1/jobs`. */
export const JobRequest = z.strictObject({
  /** The clip's media file on this machine (read only, never written). */
  source_path: AbsolutePath,
  range: SourceRange,
  /** What the edited video shows. With a preset, it fills the preset's `{prompt}`. */
  prompt: PromptText('prompt').trim().min(1, { error: 'prompt must not be empty' }),
  /** Default: the preset's, else DEFAULT_NEGATIVE_PROMPT. */
  negative_prompt: PromptText('negative_prompt').optional(),
  /** Describes the source clip; used for inversion. Default: DEFAULT_SOURCE_PROMPT. */
  source_prompt: PromptText('source_prompt').optional(),
  preset: PresetName.optional(),
  parameters: JobParameterOverrides.default({}),
  /** Omitted: the daemon's default model. */
  model: ModelId.optional(),
  /** 'video' to place on a track above the clip; 'video+audio' for a standalone file. */
  output_kind: OutputKind.default('video'),
  codec: Codec.default('prores'),
  /** Edit and return the keyframes only (fast look test); no video is rendered. */
  preview_only: z.boolean({ error: 'preview_only must be true or false' }).default(false),
  /** Client-generated; resubmitting the same body with the same key returns the same job. */
  idempotency_key: IdempotencyKey.optional(),
});
/** A request as parsed (defaults applied). */
export type JobRequest = z.infer<typeof JobRequest>;
/** A request as a client may write it (defaulted fields optional). */
export type JobRequestInput = z.input<typeof JobRequest>;

/** The effective settings of a job, fixed when it is created (later preset edits don't apply). */
export const JobSettings = z.strictObject({
  prompt: z.string(),
  negative_prompt: z.string(),
  source_prompt: z.string(),
  parameters: JobParameters,
  preset: PresetName.nullable(),
  /**
   * The model that renders the job: the request's, else the daemon's default when the job was
   * submitted. null only in records written before the daemon stored its default here (those
   * run with the daemon's current default).
   */
  model: ModelRef.nullable(),
  start_ticks: Ticks,
  end_ticks: Ticks,
});
export type JobSettings = z.infer<typeof JobSettings>;

// ---------------------------------------------------------------------------------------------
// Record

export const JobState = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled', 'interrupted']);
export type JobState = z.infer<typeof JobState>;
export function isActiveState(state: JobState): boolean {
  return state === 'queued' || state === 'running';
}

/** Pipeline stages in execution order. */
export const STAGES = ['probe', 'extract', 'invert', 'edit', 'decode', 'encode'] as const;
export const Stage = z.enum(STAGES);
export type Stage = z.infer<typeof Stage>;

/**
 * One progress report of a stage, as it travels from the pipeline to the job's events (and over
 * the farm's queue): `done` of `total` units. `doneBefore`: how many of `done` an earlier attempt
 * did (a resumed edit starts at its checkpoint), so the ETA is measured on this attempt's work only.
 */
export const StageProgress = z.strictObject({ stage: Stage, done: z.number(), total: z.number(), doneBefore: z.number().optional() });
export type StageProgress = z.infer<typeof StageProgress>;

const Fraction = z.number().min(0).max(1);
const Count = z.number().int().min(0);

export const JobProgress = z.strictObject({
  /** Stage-weighted overall progress; 1 only once the render is written. */
  overall: Fraction,
  stage_done: Count,
  stage_total: Count,
  /** Seconds left for the whole job, from measured rates; null until there is a measurement. */
  eta_s: z.number().min(0).nullable(),
});
export type JobProgress = z.infer<typeof JobProgress>;

/** Seconds spent in each finished stage (of the attempt that finished it). */
export const JobTimings = z.strictObject({
  probe: z.number().min(0).optional(),
  extract: z.number().min(0).optional(),
  invert: z.number().min(0).optional(),
  edit: z.number().min(0).optional(),
  decode: z.number().min(0).optional(),
  encode: z.number().min(0).optional(),
});
export type JobTimings = z.infer<typeof JobTimings>;

export const JobResult = z.strictObject({
  /** The render in the daemon's output folder; null for preview-only jobs. */
  output_path: z.string().nullable(),
  /** Keyframe images written for preview-only jobs (empty otherwise). */
  preview_paths: z.array(z.string()),
  frame_count: Count,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Exact source frame rate as "num/den", e.g. "30000/1001". */
  frame_rate: z.string().regex(/^\d+\/\d+$/),
  fps: z.number().positive(),
  duration_s: z.number().min(0),
  codec: Codec.nullable(),
  has_audio: z.boolean(),
});
export type JobResult = z.infer<typeof JobResult>;

export const JobId = z.uuid({ error: 'job id must be a UUID' });

export const JobRecord = z.strictObject({
  id: JobId,
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  request: JobRequest,
  settings: JobSettings,
  state: JobState,
  /** The stage running, or last reached; null before the first stage. */
  stage: Stage.nullable(),
  progress: JobProgress,
  timings: JobTimings,
  /** How many times the job has been started (resumes after a daemon restart count). */
  attempts: Count,
  result: JobResult.nullable(),
  error: JobError.nullable(),
  /**
   * Studio farm (`serve --queue`): the name of the worker that took the job's latest attempt;
   * absent for jobs the daemon runs itself and while no worker has taken the job.
   */
  worker: z.string().max(200).optional(),
});
export type JobRecord = z.infer<typeof JobRecord>;

// ---------------------------------------------------------------------------------------------
// REST bodies around jobs

/** `POST /v1/jobs` answer: 202 with `created: true`, or 200 with the existing job (idempotent replay). */
export const JobSubmitResponse = z.strictObject({ job: JobRecord, created: z.boolean() });
export type JobSubmitResponse = z.infer<typeof JobSubmitResponse>;
export const JobListResponse = z.strictObject({ jobs: z.array(JobRecord) });
export type JobListResponse = z.infer<typeof JobListResponse>;
/** `DELETE /v1/jobs/:id?files=true` also deletes the job's render. */
export const JobDeleteQuery = z.strictObject({
  files: z.enum(['true', 'false'], { error: 'files must be "true" or "false"' }).optional(),
});
export type JobDeleteQuery = z.infer<typeof JobDeleteQuery>;
