// The contract of one TokenFlow (PnP) edit step, for the code that drives the edit loop
// (preprocessing, the latent store, the daemon pipeline, `tokenflow edit`). The implementation
// is TokenFlowEditor in edit_step.ts: the TokenFlow method's keyframe pass (extended attention
// across keyframes), propagation of keyframe tokens to all frames by nearest-neighbour
// correspondence, and plug-and-play feature injection from the source inversion.
//
// Layouts: latents are NCHW float32, frames in clip order, `[n, 4, h, w]` with h, w the latent
// sides (image sides / 8). Text embeddings are one prompt's `last_hidden_state`, `[77, D]`
// (D = the UNet's cross_attention_dim). Nothing here is copied more than the UNet feeds need.
import type { DDIMScheduler, StepOutput } from '../models/ddim.ts';
import type { JobParameters } from '../../shared/parameters.ts';
import type { GraphDType } from '../runtime/graph.ts';
import type { RuntimeOptions } from './components.ts';

/**
 * How the editor loads: the pipeline's runtime options (the UNet also keeps its
 * nearest-neighbour search in float32 on GPUs) plus the TokenFlow graph's own.
 */
export interface EditorLoadOptions extends RuntimeOptions {
  /**
   * Most keyframes one keyframe pass attends across (default DEFAULT_KEYFRAME_WINDOW). With at
   * most this many keyframes per step the result is the reference's; with more, each keyframe
   * attends to a window of neighbouring keyframes (see keyframe_chunks.ts).
   */
  keyframeWindow?: number;
  /**
   * Build the graphs with the per-block debug outputs (keyframe records, propagation queries,
   * nearest-neighbour indices, propagated attention) that `EditStepArgs.onDebugTensor`
   * receives. Slower; for parity tests and `tokenflow debug tokenflow`.
   */
  debug?: boolean;
}

/** Per-prompt text embeddings, each `[77 * D]` float32 (one prompt, not repeated). */
export interface BranchEmbeddings {
  /** Inversion (source) prompt: conditions the src branch. */
  src: Float32Array;
  /** Negative prompt: the unconditional branch of classifier-free guidance. */
  unc: Float32Array;
  /** Target prompt. */
  cnd: Float32Array;
}

export type UNetPass = 'keyframes' | 'propagate';

/** Reported before each UNet call of a step. */
export interface UNetCallInfo {
  pass: UNetPass;
  /** keyframes: the chunk index; propagate: the batch index. */
  index: number;
  /** UNet calls of this step made before this one, and the step's total. */
  done: number;
  total: number;
  /** Samples in this call (3 x frames: src, unc, cnd branches). */
  samples: number;
}

/** A tensor of the debug outputs, named as in the golden `tokenflow_step0.safetensors`. */
export interface DebugTensor {
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/**
 * The job's parameters a step reads, under the table's names (shared/parameters.ts): `steps` (the
 * number of edit steps: it sets the injection schedules and the DDIM stride), `guidance_scale`
 * (classifier-free guidance, reference 7.5), `batch_size` (frames per batch B; the last batch may
 * be shorter and gets its own keyframe), and q/k injection while stepIndex < trunc(steps * pnp_attn_t),
 * conv injection while stepIndex < trunc(steps * pnp_f_t).
 */
export interface EditStepArgs extends Pick<JobParameters, 'steps' | 'guidance_scale' | 'batch_size' | 'pnp_attn_t' | 'pnp_f_t'> {
  /** Current edit latents of all n frames, `[n, 4, h, w]` (read only). */
  x: Float32Array;
  /** The stored inverted latents of the same frames at this step's timestep, `[n, 4, h, w]`. */
  srcLatents: Float32Array;
  shape: { n: number; h: number; w: number };
  /** This step's timestep (e.g. 981 at step 0 of 50). */
  t: number;
  /** 0-based step index. */
  stepIndex: number;
  /** The edit's DDIM scheduler, set to `steps` timesteps (schedule.ts resolveEditSchedule); the step only reads it. */
  scheduler: DDIMScheduler;
  /** One keyframe per batch (absolute frame index inside its batch), from pivots.ts. */
  pivots: number[];
  embeds: BranchEmbeddings;
  /** Checked before every UNet call; the step rejects with an AbortError when it fires. */
  signal?: AbortSignal;
  onUnetCall?: (info: UNetCallInfo) => void;
  /** With `debug` loaded: receives `kf.<block>.P_src|A` and `b<i>.<block>.query|nn_cur|nn_prev|attn`. */
  onDebugTensor?: (name: string, tensor: DebugTensor) => void;
}

/** A keyframes-only step (preview jobs): the keyframes are edited as one clip of their own. */
export interface KeyframeStepArgs extends Omit<EditStepArgs, 'pivots' | 'batch_size' | 'onDebugTensor'> {}

/**
 * What TokenFlowEditor (edit_step.ts) offers. Loading:
 * `const editor = await TokenFlowEditor.load(modelDir, options)`, where `modelDir` is a
 * diffusers folder with unet/, and `scheduler` the edit's (schedule.ts resolveEditSchedule). Usage per step s of S:
 *   x = (await editor.step({ x, srcLatents: store.latents(s), shape, t: timesteps[s], stepIndex: s,
 *     steps: S, scheduler, pivots: pivots[s], embeds, guidance_scale, batch_size, pnp_attn_t, pnp_f_t, signal, onUnetCall })).prevSample;
 * Keyframe lists come from pivots.ts (`drawPivots(seed, n, batch_size, S)` or an explicit list).
 */
export interface Editor {
  /**
   * One denoising step of all frames: keyframe pass(es), per-batch propagate passes, CFG, DDIM
   * (eta 0). Returns the scheduler's output for all frames, `[n, 4, h, w]` each: the latents of
   * the next timestep (prevSample) and the denoised estimate x0 (predOriginalSample).
   */
  step(args: EditStepArgs): Promise<StepOutput>;
  /**
   * One denoising step of `x` treated as keyframes only (the keyframe pass's own noise
   * prediction, CFG, DDIM): what a preview-only job runs on the keyframe latents.
   */
  keyframeStep(args: KeyframeStepArgs): Promise<StepOutput>;
  /** UNet sample-evaluations (3 per frame per call) since load: S*3*(N+K) for S steps of N frames with K keyframes. */
  readonly unetEvaluations: number;
  readonly unetCalls: number;
  /** Precision of the UNet graph the session runs (it changes the trajectory: part of an edit checkpoint's key). */
  readonly dtype: GraphDType;
  /** Most keyframes one keyframe pass attends across (EditorLoadOptions.keyframeWindow or the default). */
  readonly keyframeWindow: number;
  /** Frees the ORT sessions. */
  release(): Promise<void>;
}
