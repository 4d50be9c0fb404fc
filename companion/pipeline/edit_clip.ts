// One TokenFlow edit of a clip, from frames on disk to edited frames on disk: prompt
// embeddings -> preprocessing (or an inversion-cache hit) -> start latent -> S edit steps
// (TokenFlowEditor) -> VAE decode. Used by the daemon's pipeline (tokenflow.ts), `tokenflow
// edit`, `tokenflow debug tokenflow` and the parity tests. Components are loaded stage by stage
// and released when their stage ends; the latents of the clip live in the on-disk store and
// in RAM only as the current edit latents x (one [N, 4, h, w] array). With a checkpoint folder,
// x is saved after every step and a later run of the same edit continues from there.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { JobSettings } from '../../shared/jobs.ts';
import type { JobParameters } from '../../shared/parameters.ts';
import { DDIMScheduler } from '../models/ddim.ts';
import type { RawFrames } from '../media/types.ts';
import { FrameWriter } from '../media/frame-writer.ts';
import { encodePngRgb } from '../util/png.ts';
import { encodeText, readModelInfo, tokenize, VaeDecoder, type ModelInfo, type RuntimeOptions } from './components.ts';
import { EditCheckpoint, type CheckpointKey } from './edit_checkpoint.ts';
import { callsPerStep, TokenFlowEditor } from './edit_step.ts';
import type { BranchEmbeddings, Editor, UNetCallInfo } from './edit_types.ts';
import type { PipelinePreview, PipelineStage } from './interface.ts';
import { PipelineError } from './interface.ts';
import { fileSha256, InversionCache, keyId, modelFingerprint, type InversionKey, type SourceIdentity } from './inversion_cache.ts';
import { LatentStore, LatentStoreWriter } from './latent_store.ts';
import { checkPivots, drawPivots } from './pivots.ts';
import { imageToUnit, downscaleRgb, unitToRgb } from './pixels.ts';
import { checkAborted, checkFrameSize, preprocess, storeLayout, vaeChunk } from './preprocess.ts';
import { planSchedules, type Schedules } from './schedule.ts';

const f32 = Math.fround;

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
  /** `doneBefore`: how much of `done` a checkpointed earlier run did (not this run's work, for the ETA). */
  onProgress?: (stage: PipelineStage, done: number, total: number, doneBefore?: number) => void;
  onPreview?: (preview: PipelinePreview) => void;
  onLog?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
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
  const scheduler = await DDIMScheduler.load(path.join(options.modelDir, 'scheduler'));
  if (scheduler.config.prediction_type !== 'epsilon') {
    throw new PipelineError('pipeline_failed', `${options.modelDir}: prediction_type "${scheduler.config.prediction_type}" is not supported (TokenFlow needs an epsilon-prediction model such as stable-diffusion-2-1-base)`);
  }
  const schedules = planSchedules(scheduler.config, params.steps, params.inversion_steps);
  scheduler.setTimesteps(params.steps);
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

  // Preprocessing, or a cached store. A preview-only job inverts just its keyframes unless the
  // whole clip is already cached.
  started = performance.now();
  const inputs = inputIdentity(options);
  const found = await findOrInvert({ options, model, scheduler, schedules, embeds, keyframes, previewOnly, inputs });
  timings.invert = performance.now() - started;
  loadMs.preprocess = found.loadMs;
  const { store, rows } = found;
  options.capture?.store?.(store);
  log('info', found.hit ? `inversion: reusing the cached latents (${found.storeDir})` : `inversion: ${found.evaluations} UNet evaluations in ${(timings.invert / 1000).toFixed(1)} s`);

  // Edit. Loading the editor (graph build, session creation) takes seconds to minutes: the
  // stage shows from now on, its count (UNet calls, total 0 until known) once it is loaded.
  options.onProgress?.('edit', 0, 0);
  started = performance.now();
  const editor: Editor = await TokenFlowEditor.load(options.modelDir, {
    providers: runtime.providers, memory: runtime.memory, threads: runtime.threads,
    conversionCacheDir: runtime.conversionCacheDir, graphCacheDir: runtime.graphCacheDir, keyframeWindow: runtime.keyframeWindow,
    debug: options.debugTensors !== undefined, log: runtime.log,
  });
  loadMs.editor = timings.editLoad = performance.now() - started;
  const shape = { n: rows.length, h: store.layout.height, w: store.layout.width };
  const previews = new PreviewMaker(options, model, scheduler, store.layout.channels, shape);
  started = performance.now();
  const keyframeRows = Array.from({ length: rows.length }, (_, i) => i);
  let x: Float32Array;
  let checkpoint: EditCheckpoint | null = null;
  try {
    checkAborted(signal);
    checkpoint = previewOnly ? null : checkpointFor(options, { inputs, pivots, editor, shape, channels: store.layout.channels });
    const resumed = checkpoint ? resumeFrom(checkpoint, log) : null;
    // The checkpoint's latents, or the start latent as the reference computes it.
    x = resumed?.x ?? startLatent(store, rows, schedules.noisiest, schedules.edit[0]!, scheduler, options.capture);
    const firstStep = resumed?.stepsDone ?? 0;
    let stepCalls = previewOnly ? 0 : callsPerStep(rows.length, params.batch_size, editor.keyframeWindow);
    // Resumed steps count as done, but not as this run's work (the ETA is measured on the rest).
    const doneBefore = firstStep * stepCalls;
    let doneCalls = doneBefore;
    const report = (done: number, total: number) => options.onProgress?.('edit', done, total, doneBefore);
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
        x, srcLatents, shape, t, stepIndex: s, steps: params.steps, embeds, guidance_scale: params.guidance_scale,
        pnp_attn_t: params.pnp_attn_t, pnp_f_t: params.pnp_f_t, signal, onUnetCall,
      };
      const next = previewOnly
        ? await editor.keyframeStep(common)
        : await editor.step({
          ...common, pivots: pivots[s]!, batch_size: params.batch_size,
          onDebugTensor: options.debugTensors?.steps.includes(s) ? (name, tensor) => options.debugTensors!.onTensor(s, name, tensor.dims, tensor.data) : undefined,
        });
      if (checkpoint) saveCheckpoint(checkpoint, s + 1, next, params.steps, log);
      doneCalls += stepCalls;
      report(doneCalls, params.steps * stepCalls);
      options.capture?.step?.(s, next);
      if (previews.due(s, params.steps)) {
        // x rows of the keyframes: all rows in a preview-only edit, this step's pivots otherwise.
        if (previewOnly) await previews.emit(x, next, t, s, params.steps, keyframeRows, keyframes);
        else await previews.emit(x, next, t, s, params.steps, pivots[s]!, pivots[s]!);
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
    out = await decodeToFile(decoder, x, { ...shape, c: store.layout.channels }, model, frames, options);
  } finally {
    await previews.release();
  }
  timings.decode = performance.now() - started;
  // The edited frames exist: the job resumes from them (runner) and no longer needs the steps.
  checkpoint?.remove();
  return { frames: out, frameIndices, pivots, cacheHit: found.hit, storeDir: found.storeDir, stats };
}

/** The frames' SHA-256 and the model's fingerprint, each computed once and only if a cache or checkpoint asks. */
function inputIdentity(options: EditClipOptions): InputIdentity {
  let framesHash: string | undefined;
  let model: string | undefined;
  return {
    framesHash: () => (framesHash ??= fileSha256(options.frames.path)),
    model: () => (model ??= modelFingerprint(options.modelDir)),
  };
}

interface InputIdentity {
  framesHash(): string;
  model(): string;
}

/** The edit's checkpoint in options.checkpointDir (none without one). */
function checkpointFor(options: EditClipOptions, ctx: CheckpointContext): EditCheckpoint | null {
  if (!options.checkpointDir) return null;
  const values = ctx.shape.n * ctx.channels * ctx.shape.h * ctx.shape.w;
  return new EditCheckpoint(options.checkpointDir, checkpointKey(options, ctx), values, options.params.steps);
}

interface CheckpointContext {
  inputs: InputIdentity;
  pivots: number[][];
  editor: Editor;
  shape: { n: number; h: number; w: number };
  channels: number;
}

/**
 * Everything the edit's trajectory depends on. A checkpoint made under another key is not
 * resumed. Threads, memory mode and the execution provider are left out: they change at most
 * the float rounding, and a restart should not throw away hours of steps over them.
 */
function checkpointKey(options: EditClipOptions, ctx: CheckpointContext): CheckpointKey {
  const { frames } = options;
  return {
    model: ctx.inputs.model(),
    frames: { sha256: ctx.inputs.framesHash(), width: frames.width, height: frames.height, count: frames.count },
    source: options.source ?? null,
    prompts: options.prompts,
    params: options.params,
    // The keyframes of every step (drawn up front from the seed, or given): a resumed run uses the same rows.
    pivots: { from: options.pivots ? 'explicit' : 'seed', sha256: createHash('sha256').update(JSON.stringify(ctx.pivots)).digest('hex') },
    keyframeWindow: ctx.editor.keyframeWindow,
    dtype: ctx.editor.dtype,
    latents: [ctx.shape.n, ctx.channels, ctx.shape.h, ctx.shape.w],
  };
}

/** The checkpoint to continue from when it is usable; says why when one is ignored. */
function resumeFrom(checkpoint: EditCheckpoint, log: NonNullable<EditClipOptions['onLog']>): { stepsDone: number; x: Float32Array } | null {
  const found = checkpoint.load();
  if (found.found === 'ignored') log('warn', `edit checkpoint ignored: ${found.reason}; the edit starts at step 1`);
  return found.found === 'usable' ? found : null;
}

function resumeMessage(stepsDone: number, steps: number): string {
  return stepsDone < steps
    ? `resuming the edit at step ${stepsDone + 1}/${steps} from a checkpoint (${stepsDone} step${stepsDone === 1 ? '' : 's'} done earlier)`
    : `all ${steps} edit steps were done earlier: decoding from the checkpoint`;
}

function saveCheckpoint(checkpoint: EditCheckpoint, stepsDone: number, x: Float32Array, steps: number, log: NonNullable<EditClipOptions['onLog']>): void {
  const started = performance.now();
  checkpoint.save(stepsDone, x);
  log('debug', `edit checkpoint: step ${stepsDone}/${steps} saved (${(x.byteLength / 1024 ** 2).toFixed(2)} MB in ${(performance.now() - started).toFixed(0)} ms)`);
}

/** eps_hat from the store, then x at the first edit timestep (run_tokenflow_pnp.py:186-193, :257). */
function startLatent(store: LatentStore, rows: readonly number[], noisiest: number, t0: number, scheduler: DDIMScheduler, capture: EditCapture | undefined): Float32Array {
  const z0 = readRows(store, 'z0', rows);
  const epsHat = noiseEstimate(store, rows, noisiest, z0, scheduler);
  const x = scheduler.addNoise(z0, epsHat, t0);
  capture?.start?.(epsHat, x);
  return x;
}

interface Found {
  store: LatentStore;
  /** Store rows of the frames being edited, in order. */
  rows: number[];
  hit: boolean;
  storeDir: string;
  calls: number;
  evaluations: number;
  loadMs: number;
}

async function findOrInvert(ctx: {
  options: EditClipOptions; model: ModelInfo; scheduler: DDIMScheduler; schedules: Schedules; embeds: BranchEmbeddings; keyframes: number[]; previewOnly: boolean;
  inputs: InputIdentity;
}): Promise<Found> {
  const { options, model, schedules, keyframes, previewOnly } = ctx;
  const { frames, params } = options;
  const caches = options.caches ?? [];
  const keyOf = (subset: 'all' | number[]): InversionKey => ({
    source: options.source?.identity ?? null,
    range: options.source ? { startTicks: options.source.startTicks, endTicks: options.source.endTicks } : null,
    framesHash,
    frameSubset: subset,
    model: fingerprint,
    width: frames.width,
    height: frames.height,
    inversionSteps: params.inversion_steps,
    savedTimesteps: schedules.saved,
    inversionPrompt: 'ids' in options.prompts ? `ids:${options.prompts.ids[0]!.join(',')}` : options.prompts.source_prompt,
  });
  const framesHash = caches.length ? ctx.inputs.framesHash() : '';
  const fingerprint = caches.length ? ctx.inputs.model() : '';
  const all = Array.from({ length: frames.count }, (_, i) => i);
  const lookup = (key: InversionKey) => {
    for (const cache of caches) {
      const dir = cache.lookup(key);
      if (dir) return dir;
    }
    return null;
  };
  const allKey = keyOf('all');
  const allDir = lookup(allKey);
  if (allDir) return { store: LatentStore.open(allDir), rows: previewOnly ? keyframes.slice() : all, hit: true, storeDir: allDir, calls: 0, evaluations: 0, loadMs: 0 };
  const key = previewOnly ? keyOf(keyframes.slice()) : allKey;
  const indices = previewOnly ? keyframes.slice() : all;
  const rows = indices.map((_, i) => i);
  if (previewOnly) {
    const dir = lookup(key);
    if (dir) return { store: LatentStore.open(dir), rows, hit: true, storeDir: dir, calls: 0, evaluations: 0, loadMs: 0 };
  }
  const bytes = LatentStoreWriter.sizeOf(storeLayout(model, frames, indices.length, schedules));
  const cache = caches.find((c) => c.fits(bytes));
  const pending = cache?.begin(key);
  const storeDir = pending?.dir ?? freshDir(path.join(options.workDir, `latents-${keyId(key).slice(0, 12)}`));
  try {
    const { stats } = await preprocess({
      model, frames, frameIndices: indices, schedules, scheduler: ctx.scheduler, sourceEmbedding: ctx.embeds.src,
      storeDir, runtime: options.runtime ?? {}, signal: options.signal,
      onProgress: (done, total) => options.onProgress?.('invert', done, total),
    });
    const finalDir = pending ? pending.commit() : storeDir;
    return { store: LatentStore.open(finalDir), rows, hit: false, storeDir: finalDir, calls: stats.unetCalls, evaluations: stats.unetEvaluations, loadMs: stats.loadMs };
  } catch (err) {
    pending?.discard();
    throw err;
  }
}

function freshDir(dir: string): string {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Latents of the given store rows at `t` (or z0), in order; one read when the rows are all of them. */
function readRows(store: LatentStore, t: number | 'z0', rows: readonly number[]): Float32Array {
  const read = (first: number, count: number) => (t === 'z0' ? store.readZ0(first, count) : store.read(t, first, count));
  if (rows.length === store.layout.frames && rows.every((r, i) => r === i)) return read(0, rows.length);
  const per = store.layout.channels * store.layout.height * store.layout.width;
  const out = new Float32Array(rows.length * per);
  rows.forEach((r, i) => out.set(read(r, 1), i * per));
  return out;
}

/** eps_hat = (z_T - sqrt(a_T) z0) / sqrt(1 - a_T) from the noisiest stored latents, float32 op by op. */
function noiseEstimate(store: LatentStore, rows: readonly number[], noisiest: number, z0: Float32Array, scheduler: DDIMScheduler): Float32Array {
  const zT = readRows(store, noisiest, rows);
  const a = scheduler.alphaAt(noisiest);
  const mu = f32(Math.sqrt(a));
  const sigma = f32(Math.sqrt(f32(1 - a)));
  const out = new Float32Array(z0.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(zT[i]! - f32(mu * z0[i]!)) / sigma;
  return out;
}

/** Decodes x [n, c, h, w] to rgb24 frames in `options.outputPath`, in VAE-sized batches. */
async function decodeToFile(
  decoder: VaeDecoder, x: Float32Array, shape: { n: number; c: number; h: number; w: number }, model: ModelInfo, frames: RawFrames, options: EditClipOptions,
): Promise<RawFrames> {
  const per = shape.c * shape.h * shape.w;
  const chunk = vaeChunk(frames.width, frames.height);
  const sf = f32(model.scalingFactor);
  const writer = await FrameWriter.create(options.outputPath, frames.width, frames.height);
  try {
    options.onProgress?.('decode', 0, shape.n);
    for (let first = 0; first < shape.n; first += chunk) {
      checkAborted(options.signal);
      const count = Math.min(chunk, shape.n - first);
      const latents = x.slice(first * per, (first + count) * per);
      for (let i = 0; i < latents.length; i++) latents[i] = latents[i]! / sf;
      const { data, dims } = await decoder.decode(latents, count, shape.c, shape.h, shape.w);
      if (dims[2] !== frames.height || dims[3] !== frames.width) {
        throw new Error(`VAE decoder returned ${dims[3]}x${dims[2]} frames for ${frames.width}x${frames.height} input`);
      }
      const unit = imageToUnit(data);
      options.capture?.decoded?.(first, unit, count);
      const rgb = unitToRgb(unit, count, frames.height, frames.width);
      const bytes = frames.width * frames.height * 3;
      for (let i = 0; i < count; i++) await writer.write(rgb.subarray(i * bytes, (i + 1) * bytes));
      options.onProgress?.('decode', first + count, shape.n);
    }
    return await writer.close();
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/** Keyframes decoded per preview round. */
const MAX_PREVIEW_FRAMES = 4;

/** `count` indices of 0..n-1, evenly spaced, first and last included (all when n <= count). */
function evenlySpaced(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.round((i * (n - 1)) / (count - 1)));
}

/**
 * Keyframe previews while editing: every few steps the keyframes' denoised estimate x0 (what
 * the DDIM step computed: solved from x_t and x_{t-1}) is decoded, downscaled and sent as PNG.
 * The VAE decoder is loaded for the first preview and kept for the final decode.
 */
class PreviewMaker {
  private loaded: VaeDecoder | undefined;
  private readonly every: number;

  constructor(
    private readonly options: EditClipOptions,
    private readonly model: ModelInfo,
    private readonly scheduler: DDIMScheduler,
    private readonly channels: number,
    private readonly shape: { n: number; h: number; w: number },
  ) {
    const steps = options.params.steps;
    this.every = options.onPreview ? (options.previewEvery ?? Math.max(1, Math.round(steps / 8))) : 0;
  }

  due(stepIndex: number, steps: number): boolean {
    if (!this.every) return false;
    return (stepIndex + 1) % this.every === 0 || stepIndex === steps - 1;
  }

  async decoder(): Promise<VaeDecoder> {
    this.loaded ??= await VaeDecoder.load(this.model.dir, this.options.runtime ?? {});
    return this.loaded;
  }

  /**
   * Decodes x0 of latents `rows` (indices into x) and reports them as frames `frameIndices`:
   * at most MAX_PREVIEW_FRAMES of them, evenly spaced (the daemon forwards about 2 previews a
   * second per job, so decoding more would be wasted work).
   */
  async emit(x: Float32Array, next: Float32Array, t: number, stepIndex: number, steps: number, allRows: readonly number[], allIndices: readonly number[]): Promise<void> {
    const picks = evenlySpaced(allRows.length, MAX_PREVIEW_FRAMES);
    const rows = picks.map((i) => allRows[i]!);
    const frameIndices = picks.map((i) => allIndices[i]!);
    const per = this.channels * this.shape.h * this.shape.w;
    const prevT = t - Math.floor(this.scheduler.config.num_train_timesteps / steps);
    const aT = this.scheduler.alphaAt(t);
    const aP = this.scheduler.alphaAt(prevT);
    // x = sqrt(aT) x0 + sqrt(1-aT) e, next = sqrt(aP) x0 + sqrt(1-aP) e  =>  x0.
    const sT = Math.sqrt(1 - aT);
    const sP = Math.sqrt(1 - aP);
    const det = sP * Math.sqrt(aT) - sT * Math.sqrt(aP);
    const sf = this.model.scalingFactor;
    const decoder = await this.decoder();
    const { width, height } = this.options.frames;
    for (const [i, row] of rows.entries()) {
      checkAborted(this.options.signal);
      const x0 = new Float32Array(per);
      for (let j = 0; j < per; j++) x0[j] = (sP * x[row * per + j]! - sT * next[row * per + j]!) / det / sf;
      const { data } = await decoder.decode(x0, 1, this.channels, this.shape.h, this.shape.w);
      const rgb = unitToRgb(imageToUnit(data), 1, height, width);
      const small = downscaleRgb(rgb, width, height, this.options.previewSide ?? 320);
      this.options.onPreview!({ index: frameIndices[i]!, mime: 'image/png', data: encodePngRgb(small.rgb, small.width, small.height), width: small.width, height: small.height });
    }
    this.options.onLog?.('debug', `preview: ${rows.length} keyframe(s) at step ${stepIndex + 1}/${steps}`);
  }

  async release(): Promise<void> {
    await this.loaded?.release();
    this.loaded = undefined;
  }
}
