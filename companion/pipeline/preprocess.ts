// Preprocessing: frames -> VAE posterior mean x scaling
// factor = z0 -> DDIM inversion with the source prompt and no guidance, up through the
// inversion timesteps, keeping the latents of every saved timestep in the on-disk latent store.
// Frames go through the VAE and the UNet in small chunks; a chunk is inverted through every
// timestep before the next is read (frames are independent in the inversion), so memory holds
// one chunk whatever the clip length. The VAE encoder is released before the UNet is loaded.
import type { DDIMScheduler } from '../models/ddim.ts';
import type { RawFrames } from '../media/types.ts';
import { PlainUNet, VaeEncoder, type ModelInfo, type RuntimeOptions } from './components.ts';
import { LatentStoreWriter, type LatentStore, type LatentStoreLayout } from './latent_store.ts';
import { readRgbFrames, rgbToImage } from './pixels.ts';
import type { Schedules } from './schedule.ts';

const f32 = Math.fround;

/** Frames per VAE call: about two 512x512 frames' worth of pixels, 1 to 16 frames. */
export function vaeChunk(width: number, height: number): number {
  return clamp(Math.floor((2 * 512 * 512) / (width * height)), 1, 16);
}

/** Frames per inversion UNet call: about eight 64x64 latents' worth, 1 to 16 frames (fixed: memory must not grow with the clip). */
export function unetChunk(latentWidth: number, latentHeight: number): number {
  return clamp(Math.floor((8 * 64 * 64) / (latentWidth * latentHeight)), 1, 16);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

export interface PreprocessOptions {
  model: ModelInfo;
  frames: RawFrames;
  /** Which frames to process, in order (default: all). The store's frame i is frameIndices[i]. */
  frameIndices?: number[];
  schedules: Schedules;
  scheduler: DDIMScheduler;
  /** Text embedding of the inversion (source) prompt, [77 * D]. */
  sourceEmbedding: Float32Array;
  /** Folder the latent store is written into. */
  storeDir: string;
  runtime: RuntimeOptions;
  signal?: AbortSignal;
  /**
   * Model calls done of the total: the VAE encoder's chunks, then the inversion's UNet calls
   * (the encode of a long clip takes minutes on a CPU and must show that it moves).
   */
  onProgress?: (done: number, total: number) => void;
}

export interface PreprocessStats {
  encodeMs: number;
  invertMs: number;
  /** Session creation (graph build + ORT load) of the VAE encoder and the UNet. */
  loadMs: number;
  unetCalls: number;
  /** UNet sample-evaluations: inversion steps x frames. */
  unetEvaluations: number;
}

export function storeLayout(model: ModelInfo, frames: { width: number; height: number }, count: number, schedules: Schedules): LatentStoreLayout {
  return {
    frames: count,
    channels: model.latentChannels,
    height: frames.height / model.vaeFactor,
    width: frames.width / model.vaeFactor,
    timesteps: schedules.saved,
  };
}

/** Runs the whole preprocessing into a new latent store at `storeDir`. */
export async function preprocess(options: PreprocessOptions): Promise<{ store: LatentStore; stats: PreprocessStats }> {
  const { model, frames, runtime } = options;
  checkFrameSize(frames, model);
  const indices = options.frameIndices ?? Array.from({ length: frames.count }, (_, i) => i);
  const layout = storeLayout(model, frames, indices.length, options.schedules);
  const writer = LatentStoreWriter.create(options.storeDir, layout);
  const stats: PreprocessStats = { encodeMs: 0, invertMs: 0, loadMs: 0, unetCalls: 0, unetEvaluations: 0 };
  const encodeCalls = Math.ceil(indices.length / vaeChunk(frames.width, frames.height));
  const inversionCalls = Math.ceil(indices.length / unetChunk(layout.width, layout.height)) * options.schedules.inversion.length;
  const report = (done: number) => options.onProgress?.(done, encodeCalls + inversionCalls);
  try {
    report(0);
    const encoder = await VaeEncoder.load(model.dir, runtime);
    stats.loadMs += encoder.loadMs;
    let started = performance.now();
    try {
      await encodeFrames(encoder, frames, indices, model.scalingFactor, writer, options.signal, report);
    } finally {
      await encoder.release();
    }
    stats.encodeMs = performance.now() - started;

    checkAborted(options.signal);
    const unet = await PlainUNet.load(model.dir, runtime);
    stats.loadMs += unet.loadMs;
    started = performance.now();
    try {
      Object.assign(stats, await invertLatents({ ...options, unet, writer, layout, onProgress: (done) => report(encodeCalls + done) }));
    } finally {
      await unet.release();
    }
    stats.invertMs = performance.now() - started;
    return { store: writer.finish(), stats };
  } catch (err) {
    writer.abandon();
    throw err;
  }
}

/** The VAE needs sides divisible by its downscale factor (8 for SD). */
export function checkFrameSize(frames: { width: number; height: number }, model: ModelInfo): void {
  const f = model.vaeFactor;
  if (frames.width % f !== 0 || frames.height % f !== 0) {
    throw new Error(`frames are ${frames.width}x${frames.height}; this model's VAE needs both sides to be multiples of ${f}`);
  }
}

/** z0 = scaling_factor x posterior mean, for the frames `indices`, written to the store in order. */
export async function encodeFrames(
  encoder: VaeEncoder, frames: RawFrames, indices: readonly number[], scalingFactor: number, writer: LatentStoreWriter, signal?: AbortSignal,
  onCall?: (calls: number) => void,
): Promise<void> {
  const chunk = vaeChunk(frames.width, frames.height);
  const sf = f32(scalingFactor);
  for (let i = 0; i < indices.length; i += chunk) {
    checkAborted(signal);
    const part = indices.slice(i, i + chunk);
    const rgb = readFrameList(frames, part);
    const mean = await encoder.mean(rgbToImage(rgb, part.length, frames.height, frames.width), part.length, frames.height, frames.width);
    for (let j = 0; j < mean.length; j++) mean[j] = f32(mean[j]! * sf);
    writer.writeZ0(i, mean);
    onCall?.(i / chunk + 1);
  }
}

/** rgb24 of the listed frames, reading runs of consecutive frames at once. */
function readFrameList(frames: RawFrames, indices: readonly number[]): Uint8Array {
  const per = frames.width * frames.height * 3;
  const out = new Uint8Array(indices.length * per);
  let i = 0;
  while (i < indices.length) {
    let run = 1;
    while (i + run < indices.length && indices[i + run] === indices[i]! + run) run++;
    out.set(readRgbFrames(frames, indices[i]!, run), i * per);
    i += run;
  }
  return out;
}

export interface InvertOptions {
  unet: PlainUNet;
  /** Holds z0 (read back chunk by chunk) and receives the saved timesteps. */
  writer: LatentStoreWriter;
  layout: LatentStoreLayout;
  model: ModelInfo;
  schedules: Schedules;
  scheduler: DDIMScheduler;
  sourceEmbedding: Float32Array;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * TokenFlow's `ddim_inversion` (preprocess.py:199-230) per chunk of frames: eps = UNet(z, t,
 * source prompt), z moved from the previous timestep's alpha (alpha_0 before the first) to t's.
 */
export async function invertLatents(options: InvertOptions): Promise<{ unetCalls: number; unetEvaluations: number }> {
  const { unet, writer, layout, schedules, scheduler, model } = options;
  const n = layout.frames;
  const chunk = unetChunk(layout.width, layout.height);
  const chunks = Math.ceil(n / chunk);
  const total = chunks * schedules.inversion.length;
  const saved = new Set(schedules.saved);
  let calls = 0;
  let evaluations = 0;
  options.onProgress?.(0, total);
  for (let first = 0; first < n; first += chunk) {
    const count = Math.min(chunk, n - first);
    const shape = { n: count, c: layout.channels, h: layout.height, w: layout.width };
    let x = writer.readZ0(first, count);
    let prev = -1;
    for (const t of schedules.inversion) {
      checkAborted(options.signal);
      const eps = await unet.predict(x, shape, t, options.sourceEmbedding, model.textWidth);
      x = scheduler.invertStep(eps, t, prev, x);
      if (saved.has(t)) writer.writeTimestep(t, first, x);
      prev = t;
      calls++;
      evaluations += count;
      options.onProgress?.(calls, total);
    }
  }
  return { unetCalls: calls, unetEvaluations: evaluations };
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
    throw new DOMException(`pipeline aborted: ${reason}`, 'AbortError');
  }
}
