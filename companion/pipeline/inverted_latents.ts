// Reuse or invert: the latent store an edit reads (z0 and every saved timestep of its frames),
// from an inversion cache when one holds it, else made by preprocessing (preprocess.ts) into
// a new cache entry or, when no cache takes it, a scratch folder. A preview-only edit inverts
// just its keyframes unless the whole clip is already cached.
import fs from 'node:fs';
import path from 'node:path';
import type { ModelInfo } from './components.ts';
import type { EditClipOptions } from './edit_clip.ts';
import { keyId, type InputIdentity, type InversionKey } from './inversion_cache.ts';
import { LatentStore, LatentStoreWriter } from './latent_store.ts';
import { preprocess, storeLayout } from './preprocess.ts';
import type { EditSchedule } from './schedule.ts';

export interface InvertedLatents {
  store: LatentStore;
  /** Store rows of the frames being edited, in order. */
  rows: number[];
  hit: boolean;
  storeDir: string;
  calls: number;
  evaluations: number;
  loadMs: number;
}

export interface InvertContext {
  options: Pick<EditClipOptions, 'frames' | 'prompts' | 'source' | 'caches' | 'workDir' | 'runtime' | 'signal' | 'onProgress'>;
  model: ModelInfo;
  schedule: EditSchedule;
  /** Text embedding of the inversion (source) prompt. */
  sourceEmbedding: Float32Array;
  keyframes: number[];
  previewOnly: boolean;
  inputs: InputIdentity;
}

export async function findOrInvert(ctx: InvertContext): Promise<InvertedLatents> {
  const { options, model, keyframes, previewOnly } = ctx;
  const { schedules, scheduler } = ctx.schedule;
  const { frames } = options;
  const caches = options.caches ?? [];
  const keyOf = (subset: 'all' | number[]): InversionKey => ({
    source: options.source?.identity ?? null,
    range: options.source ? { startTicks: options.source.startTicks, endTicks: options.source.endTicks } : null,
    framesHash,
    frameSubset: subset,
    model: fingerprint,
    width: frames.width,
    height: frames.height,
    inversionSteps: schedules.inversion.length,
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
      model, frames, frameIndices: indices, schedules, scheduler, sourceEmbedding: ctx.sourceEmbedding,
      storeDir, runtime: options.runtime ?? {}, signal: options.signal,
      onProgress: (done, total) => options.onProgress?.({ stage: 'invert', done, total }),
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
