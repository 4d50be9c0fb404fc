// One TokenFlow edit of a clip, from frames on disk to edited frames on disk: prompt
// embeddings -> preprocessing (or an inversion-cache hit) -> start latent -> S edit steps
// (TokenFlowEditor) -> VAE decode. Used by the daemon's pipeline (tokenflow.ts), `tokenflow
// edit`, `tokenflow debug tokenflow` and the parity tests. Components are loaded stage by stage
// and released when their stage ends; the latents of the clip live in the on-disk store and
// in RAM only as the current edit latents x and the step's output (the next x and its x0, each
// [N, 4, h, w]). With a checkpoint folder, x is saved after every step and a later run of the
// same edit continues from there. This file orders the stages; each lives in its own module:
// schedule.ts (the scheduler and timesteps, resolved once), inverted_latents.ts (reuse or
// invert), latent_math.ts (start latent), edit_resume.ts (checkpoint), previews.ts, decode_frames.ts.
import type { JobSettings } from '../../shared/jobs.ts';
import type { JobParameters } from '../../shared/parameters.ts';
import type { RawFrames } from '../media/types.ts';
import { encodeText, readModelInfo, tokenize, type RuntimeOptions } from './components.ts';
import { decodeToFile } from './decode_frames.ts';
import type { EditCheckpoint } from './edit_checkpoint.ts';
import { checkpointFor, resumeFrom, resumeMessage, saveCheckpoint } from './edit_resume.ts';
import { callsPerStep, TokenFlowEditor } from './edit_step.ts';
import type { BranchEmbeddings, Editor, UNetCallInfo } from './edit_types.ts';
import type { PipelineHooks, PipelinePreview } from './interface.ts';
import { PipelineError } from './interface.ts';
import { inputIdentity, type InversionCache, type SourceIdentity } from './inversion_cache.ts';
import { findOrInvert } from './inverted_latents.ts';
import { readRows, startLatent } from './latent_math.ts';
import type { LatentStore } from './latent_store.ts';
import { checkPivots, drawPivots } from './pivots.ts';
import { PreviewMaker } from './previews.ts';
import { checkAborted, checkFrameSize } from './preprocess.ts';
import { checkScheduleFor, resolveEditSchedule, type EditSchedule } from './schedule.ts';

/** What the edit reads of the job's parameters (the frames come already at the processing size). */
export type EditParams = Omit<JobParameters, 'short_side'>;

/** The three prompts, named as in the job's settings. */
export type TextPrompts = Pick<JobSettings, 'prompt' | 'negative_prompt' | 'source_prompt'>;
/** The prompts as text, or as CLIP token ids (rows: source, negative, target prompt). */
export type EditPrompts = TextPrompts | { ids: number[][] };

/** Debug taps on the intermediate values (tokenflow debug tokenflow, parity tests). */
export interface EditCapture {
  text?(ids: number[][], embeds: Float32Array[]): void;
  /** The latent store (z0 and every saved timestep) the edit reads. */
  store?(store: LatentStore): void;
  start?(epsHat: Float32Array, xStart: Float32Array): void;
  /** Latents after step s (x_steps[s + 1]). */
  step?(stepIndex: number, x: Float32Array): void;
  /** Decoded frames [n, 3, H, W] in [0, 1] (before quantisation), starting at output frame `first`. */
  decoded?(first: number, unit: Float32Array, n: number): void;
}

export interface EditClipOptions {
  modelDir: string;
  frames: RawFrames;
  prompts: EditPrompts;
  params: EditParams;
  /**
   * The model's scheduler and the edit's timesteps for params.steps / params.inversionSteps, as
   * the caller resolved them (resolveEditSchedule); resolved here when not given.
   */
  schedule?: EditSchedule;
  /** Keyframes per step (one per batch), instead of the seeded draw (parity tests, debug). */
  pivots?: number[][];
  /** Edit the keyframes of step 0 alone and return their frames. */
  previewOnly?: boolean;
  /** rgb24 file the edited frames are written to. */
  outputPath: string;
  /** Scratch folder (latent store when no cache takes it). */
  workDir: string;
  /**
   * A folder that survives restarts, for the edit's checkpoint (the latents after each step):
   * a run with the same settings continues after the last completed step. Removed when the edit
   * has been decoded. Full edits only: a preview-only edit is short and is not checkpointed.
   */
  checkpointDir?: string;
  /** Inversion caches, searched in order; a new entry goes to the first that fits it. */
  caches?: InversionCache[];
  /** The media file the frames came from, for the cache key. */
  source?: { identity: SourceIdentity; startTicks: string; endTicks: string } | null;
  runtime?: RuntimeOptions & { keyframeWindow?: number };
  /** Previews every this many steps (default: about 8 per edit); 0 = none. */
  previewEvery?: number;
  /** Long side of preview images (default 320). */
  previewSide?: number;
  signal?: AbortSignal;
  /** An edit resumed from its checkpoint reports the steps an earlier run did as `doneBefore`. */
  onProgress?: PipelineHooks['onProgress'];
  onPreview?: (preview: PipelinePreview) => void;
  onLog?: PipelineHooks['onLog'];
  capture?: EditCapture;
  /** Load the editor with its debug outputs (keyframe records, propagation values) and receive them for `steps`. */
  debugTensors?: { steps: readonly number[]; onTensor(stepIndex: number, name: string, dims: number[], data: Float32Array | BigInt64Array): void };
}

export interface EditTimings {
  /** Text encoder load + run. */
  text: number;
  /** VAE encode + inversion incl. loading (0 on a cache hit). */
  invert: number;
  /** Editor load. */
  editLoad: number;
  /** The S steps (incl. previews). */
  edit: number;
  /** VAE decoder load + decode. */
  decode: number;
}

export interface EditClipResult {
  frames: RawFrames;
  /** Input frame index of each output frame. */
  frameIndices: number[];
  /** Keyframes of every step. */
  pivots: number[][];
  cacheHit: boolean;
  /** Latent store folder used (a cache entry or under workDir). */
  storeDir: string;
  stats: {
    invertUnetCalls: number;
    invertUnetEvaluations: number;
    editUnetCalls: number;
    editUnetEvaluations: number;
    /** Session creation times (graph build + ORT load), ms. */
    loadMs: { text: number; preprocess: number; editor: number; vaeDecoder: number };
    timingsMs: EditTimings;
  };
}

export async function editClip(options: EditClipOptions): Promise<EditClipResult> {
  const { frames, params, signal } = options;
  const log = options.onLog ?? (() => {});
  const runtime = options.runtime ?? {};
  const model = readModelInfo(options.modelDir);
  checkFrameSize(frames, model);
  const schedule = options.schedule ?? await resolveEditSchedule(options.modelDir, params.steps, params.inversion_steps);
  checkScheduleFor(schedule, params.steps, params.inversion_steps);
  const { scheduler, schedules } = schedule;
  const n = frames.count;
  const pivots = options.pivots ?? drawPivots(params.seed, n, params.batch_size, params.steps);
  if (pivots.length !== params.steps) throw new PipelineError('bad_request', `pivots: ${pivots.length} rows for ${params.steps} steps`);
  pivots.forEach((row, s) => checkPivots(row, n, params.batch_size, `pivots[${s}]`));
  const previewOnly = options.previewOnly ?? false;
  const keyframes = pivots[0]!;
  const timings: EditTimings = { text: 0, invert: 0, editLoad: 0, edit: 0, decode: 0 };
  const loadMs = { text: 0, preprocess: 0, editor: 0, vaeDecoder: 0 };

  // Text: src = inversion prompt, unc = negative prompt, cnd = target prompt.
  let started = performance.now();
  const ids = 'ids' in options.prompts
    ? options.prompts.ids
    : await tokenize(options.modelDir, [options.prompts.source_prompt, options.prompts.negative_prompt, options.prompts.prompt]);
  if (ids.length !== 3) throw new Error(`prompts: ${ids.length} token id rows, expected 3 (source, negative, target)`);
  const text = await encodeText(options.modelDir, ids, runtime);
  loadMs.text = text.loadMs;
  const embeds: BranchEmbeddings = { src: text.embeds[0]!, unc: text.embeds[1]!, cnd: text.embeds[2]! };
  options.capture?.text?.(ids, text.embeds);
  timings.text = performance.now() - started;
  checkAborted(signal);

  // Preprocessing, or a cached store (inverted_latents.ts).
  started = performance.now();
  const inputs = inputIdentity(frames.path, options.modelDir);
  const found = await findOrInvert({ options, model, schedule, sourceEmbedding: embeds.src, keyframes, previewOnly, inputs });
  timings.invert = performance.now() - started;
  loadMs.preprocess = found.loadMs;
  const { store, rows } = found;
  options.capture?.store?.(store);
  log('info', found.hit ? `inversion: reusing the cached latents (${found.storeDir})` : `inversion: ${found.evaluations} UNet evaluations in ${(timings.invert / 1000).toFixed(1)} s`);

  // Edit. Loading the editor (graph build, session creation) takes seconds to minutes: the
  // stage shows from now on, its count (UNet calls, total 0 until known) once it is loaded.
  options.onProgress?.({ stage: 'edit', done: 0, total: 0 });
  started = performance.now();
  // The whole runtime bag, the forced precision included (TOKENFLOW_PRECISION, --precision).
  const editor: Editor = await TokenFlowEditor.load(options.modelDir, { ...runtime, debug: options.debugTensors !== undefined });
  loadMs.editor = timings.editLoad = performance.now() - started;
  const shape = { n: rows.length, h: store.layout.height, w: store.layout.width };
  const channels = store.layout.channels;
  const previews = new PreviewMaker({
    model, frames, runtime, steps: params.steps, every: options.previewEvery, side: options.previewSide,
    latent: { c: channels, h: shape.h, w: shape.w }, signal, onPreview: options.onPreview, onLog: options.onLog,
  });
  started = performance.now();
  const keyframeRows = Array.from({ length: rows.length }, (_, i) => i);
  let x: Float32Array;
  let checkpoint: EditCheckpoint | null = null;
  try {
    checkAborted(signal);
    checkpoint = previewOnly ? null : checkpointFor({ options, inputs, pivots, editor, shape, channels });
    const resumed = checkpoint ? resumeFrom(checkpoint, log) : null;
    // The checkpoint's latents, or the start latent as the reference computes it.
    x = resumed?.x ?? start(options, store, rows, schedule);
    const firstStep = resumed?.stepsDone ?? 0;
    let stepCalls = previewOnly ? 0 : callsPerStep(rows.length, params.batch_size, editor.keyframeWindow);
    // Resumed steps count as done, but not as this run's work (the ETA is measured on the rest).
    const doneBefore = firstStep * stepCalls;
    let doneCalls = doneBefore;
    const report = (done: number, total: number) => options.onProgress?.({ stage: 'edit', done, total, doneBefore });
    if (resumed) {
      log('info', resumeMessage(firstStep, params.steps));
      report(doneBefore, params.steps * stepCalls);
    }
    for (let s = firstStep; s < params.steps; s++) {
      checkAborted(signal);
      const t = schedules.edit[s]!;
      const srcLatents = readRows(store, t, rows);
      const onUnetCall = (info: UNetCallInfo) => {
        stepCalls = info.total;
        report(doneCalls + info.done, params.steps * info.total);
      };
      const common = {
        x, srcLatents, shape, t, stepIndex: s, steps: params.steps, scheduler, embeds, guidance_scale: params.guidance_scale,
        pnp_attn_t: params.pnp_attn_t, pnp_f_t: params.pnp_f_t, signal, onUnetCall,
      };
      const { prevSample: next, predOriginalSample: x0 } = previewOnly
        ? await editor.keyframeStep(common)
        : await editor.step({
          ...common, pivots: pivots[s]!, batch_size: params.batch_size,
          onDebugTensor: options.debugTensors?.steps.includes(s) ? (name, tensor) => options.debugTensors!.onTensor(s, name, tensor.dims, tensor.data) : undefined,
        });
      // Saved even when an abort came during the step: the step is complete, and a daemon that
      // is stopping keeps it for the job's resume. A cancel cannot leave it behind: the job's
      // folder is removed only once this run has ended (the pipeline host settles on this
      // process's reply or exit), and a start-up removes the folders of jobs not queued.
      if (checkpoint) saveCheckpoint(checkpoint, s + 1, next, params.steps, log);
      doneCalls += stepCalls;
      report(doneCalls, params.steps * stepCalls);
      options.capture?.step?.(s, next);
      if (previews.due(s)) {
        // x0 rows of the keyframes: all rows in a preview-only edit, this step's pivots otherwise.
        if (previewOnly) await previews.emit(x0, s, keyframeRows, keyframes);
        else await previews.emit(x0, s, pivots[s]!, pivots[s]!);
      }
      x = next;
    }
  } catch (err) {
    await previews.release();
    throw err;
  } finally {
    timings.edit = performance.now() - started;
    await editor.release();
  }
  const stats = {
    invertUnetCalls: found.calls,
    invertUnetEvaluations: found.evaluations,
    editUnetCalls: editor.unetCalls,
    editUnetEvaluations: editor.unetEvaluations,
    loadMs,
    timingsMs: timings,
  };

  // Decode.
  started = performance.now();
  const frameIndices = previewOnly ? keyframes.slice() : Array.from({ length: n }, (_, i) => i);
  let out: RawFrames;
  try {
    const decoder = await previews.decoder();
    loadMs.vaeDecoder = decoder.loadMs;
    out = await decodeToFile(decoder, x, { ...shape, c: channels }, model, frames, {
      outputPath: options.outputPath, signal, onProgress: options.onProgress, onDecoded: options.capture?.decoded,
    });
  } finally {
    await previews.release();
  }
  timings.decode = performance.now() - started;
  // The edited frames exist: the job resumes from them (runner) and no longer needs the steps.
  checkpoint?.remove();
  return { frames: out, frameIndices, pivots, cacheHit: found.hit, storeDir: found.storeDir, stats };
}

/** The start latent at the first edit timestep (latent_math.ts), shown to the capture. */
function start(options: EditClipOptions, store: LatentStore, rows: readonly number[], { scheduler, schedules }: EditSchedule): Float32Array {
  const { epsHat, x } = startLatent(store, rows, schedules.noisiest, schedules.edit[0]!, scheduler);
  options.capture?.start?.(epsHat, x);
  return x;
}
