// One TokenFlow (PnP) denoising step over all frames:
// keyframe pass -> keep its per-block tokens -> each batch's propagate pass -> classifier-free
// guidance -> DDIM step (eta 0). Memory stays bounded: besides the UNet sessions, only the
// latents, the records of the keyframes still needed, and one batch's tensors are held.
import type { StepOutput } from '../models/ddim.ts';
import { unetBlockSettings, type UNetConfig } from '../models/config.ts';
import type { GraphDType } from '../runtime/graph.ts';
import { ort, run, type LoadedSession, type PolicySessionOptions } from '../runtime/session.ts';
import { loadGraphSession } from './graph_session.ts';
import { blendWeights, firstBatchWeights } from './blend.ts';
import type {
  BranchEmbeddings, DebugTensor, EditStepArgs, Editor, EditorLoadOptions, KeyframeStepArgs, UNetCallInfo,
} from './edit_types.ts';
import { DEFAULT_KEYFRAME_WINDOW, planKeyframeChunks, type KeyframeChunk } from './keyframe_chunks.ts';
import { KeyframeTokens, type BlockRecordOutput } from './keyframe_tokens.ts';
import { batchRanges, checkPivots, type BatchRange } from './pivots.ts';
import { MODE_INPUTS, buildTokenFlowGraph, debugOutputNames, keyframeInputNames, recordOutputNames } from './unet_modes.ts';

export type * from './edit_types.ts';

type Feeds = Record<string, ort.Tensor>;

/** Steps with q/k injection and with conv injection: the first trunc(S * fraction) steps (Python's int()). */
export function injectionSchedule(stepIndex: number, totalSteps: number, pnpAttnT: number, pnpFT: number): { qk: boolean; conv: boolean } {
  return { qk: stepIndex < Math.trunc(totalSteps * pnpAttnT), conv: stepIndex < Math.trunc(totalSteps * pnpFT) };
}

/** eps = unc + g * (cnd - unc), in float32 as torch computes it. */
export function classifierFreeGuidance(unc: Float32Array, cnd: Float32Array, guidance: number): Float32Array {
  const g = Math.fround(guidance);
  const out = new Float32Array(unc.length);
  for (let i = 0; i < out.length; i++) out[i] = unc[i]! + Math.fround(g * Math.fround(cnd[i]! - unc[i]!));
  return out;
}

/** UNet sample-evaluations of one step: 3 branches x (all frames + the chunked keyframe samples). */
export function evaluationsPerStep(frames: number, batchSize: number, keyframeWindow = DEFAULT_KEYFRAME_WINDOW): number {
  const keyframes = batchRanges(frames, batchSize).length;
  return 3 * (frames + planKeyframeChunks(keyframes, keyframeWindow).reduce((s, c) => s + c.count, 0));
}

/** UNet calls of one step: the keyframe pass chunks, then one propagate call per batch. */
export function callsPerStep(frames: number, batchSize: number, keyframeWindow = DEFAULT_KEYFRAME_WINDOW): number {
  const batches = batchRanges(frames, batchSize).length;
  return planKeyframeChunks(batches, keyframeWindow).length + batches;
}

export class TokenFlowEditor implements Editor {
  private evaluations = 0;
  private calls = 0;
  private recordPeak = { keyframes: 0, bytes: 0 };
  private textCache: { embeds: BranchEmbeddings; byCount: Map<number, Float32Array> } | undefined;

  private constructor(
    private readonly unet: LoadedSession,
    private readonly blocks: readonly string[],
    private readonly idlePropagateInputs: Feeds,
    private readonly config: UNetConfig,
    private readonly window: number,
    private readonly debug: boolean,
  ) {}

  /**
   * Builds the TokenFlow UNet graph (both modes, unet_modes.ts) from `<modelDir>/unet` and opens
   * one session for it; the weights stay external (mmapped from the safetensors files).
   */
  static async load(modelDir: string, options: EditorLoadOptions = {}): Promise<TokenFlowEditor> {
    const window = options.keyframeWindow ?? DEFAULT_KEYFRAME_WINDOW;
    if (!Number.isInteger(window) || window < 1) throw new Error(`keyframeWindow must be a positive integer, got ${window}`);
    const debug = options.debug ?? false;
    // Keyframe and propagate passes alternate input shapes: without memory patterns the arena
    // reuses one pool for both (mid-size model: peak RSS 1295 -> 1060 MB, no slower).
    const sessionOptions: PolicySessionOptions = {
      providers: options.providers, memory: options.memory, threads: options.threads, log: options.log, memoryPattern: false, dtype: options.dtype,
    };
    const { loaded: unet, meta } = await loadGraphSession({
      modelDir, folder: 'unet', component: 'unet', mode: debug ? 'tokenflow-debug' : 'tokenflow',
      conversionCacheDir: options.conversionCacheDir,
      build: (dtype, provider) => {
        const { graph, config, blocks, channels } = buildTokenFlowGraph(modelDir, { conversionCacheDir: options.conversionCacheDir, debug, dtype, provider });
        return { graph, meta: { config, blocks, channels } };
      },
    }, { ...sessionOptions, graphCacheDir: options.graphCacheDir });
    const { config, blocks, channels } = meta;
    if (config.in_channels !== 4 || config.out_channels !== 4) {
      await unet.session.release();
      throw new Error(`${modelDir}/unet: in_channels ${config.in_channels} / out_channels ${config.out_channels}; TokenFlow needs a 4-channel text-to-image UNet`);
    }
    // Keyframe passes do not evaluate the propagate branch; its inputs are fed empty.
    const idle: Feeds = { [MODE_INPUTS.blendWeights]: new ort.Tensor('float32', new Float32Array(0), [0]) };
    blocks.forEach((b, i) => {
      const names = keyframeInputNames(b);
      for (const name of [names.curP, names.prevP]) idle[name] = new ort.Tensor('float32', new Float32Array(0), [0, channels[i]!]);
      for (const name of [names.curA, names.prevA]) idle[name] = new ort.Tensor('float32', new Float32Array(0), [3, 0, channels[i]!]);
    });
    return new TokenFlowEditor(unet, blocks, idle, config, window, debug);
  }

  get unetEvaluations(): number {
    return this.evaluations;
  }

  get unetCalls(): number {
    return this.calls;
  }

  get dtype(): GraphDType {
    return this.unet.dtype!; // always set: the session was chosen by the precision policy
  }

  get keyframeWindow(): number {
    return this.window;
  }

  /** Most keyframe records held at once during the last step(), and their bytes (bounded by the window, not the clip). */
  get keyframeRecordPeak(): { keyframes: number; bytes: number } {
    return { ...this.recordPeak };
  }

  /** Transformer block paths in execution order (the golden tensor names use them). */
  get blockNames(): readonly string[] {
    return this.blocks;
  }

  async step(args: EditStepArgs): Promise<StepOutput> {
    const { n } = args.shape;
    const frameSize = this.checkLatents(args);
    checkPivots(args.pivots, n, args.batch_size);
    const batches = batchRanges(n, args.batch_size);
    const chunks = planKeyframeChunks(batches.length, this.window);
    const inject = injectionSchedule(args.stepIndex, args.steps, args.pnp_attn_t, args.pnp_f_t);
    const total = chunks.length + batches.length;
    const out = newStepOutput(args.x.length);
    const tokens = new KeyframeTokens(this.blocks);
    const debugRecords: { first: number; outputs: BlockRecordOutput[] }[] = [];
    let done = 0;
    let batch = 0;
    this.recordPeak = { keyframes: 0, bytes: 0 };
    for (const [c, chunk] of chunks.entries()) {
      const frames = args.pivots.slice(chunk.first, chunk.first + chunk.count);
      this.before(args, { pass: 'keyframes', index: c, done: done++, total, samples: 3 * frames.length });
      const outputs = await this.keyframePass(args, frames, frameSize, chunk, inject);
      tokens.putFromPass(chunk.recordFrom, outputs);
      this.recordPeak = {
        keyframes: Math.max(this.recordPeak.keyframes, tokens.keyframes.length),
        bytes: Math.max(this.recordPeak.bytes, tokens.bytes),
      };
      if (this.debug && args.onDebugTensor) debugRecords.push({ first: chunk.recordFrom, outputs });
      // Every batch whose keyframe is now recorded (its previous one is still held).
      for (; batch < chunk.recordTo; batch++) {
        const range = batches[batch]!;
        this.before(args, { pass: 'propagate', index: batch, done: done++, total, samples: 3 * range.size });
        const eps = await this.propagatePass(args, batch, range, frameSize, tokens, inject.conv);
        ddimStep(out, eps, args, range.start * frameSize, (range.start + range.size) * frameSize);
        tokens.dropBefore(batch);
      }
    }
    if (debugRecords.length) emitKeyframeRecords(this.blocks, debugRecords, args.onDebugTensor!);
    return out;
  }

  async keyframeStep(args: KeyframeStepArgs): Promise<StepOutput> {
    const { n } = args.shape;
    const frameSize = this.checkLatents(args);
    const chunks = planKeyframeChunks(n, this.window);
    const inject = injectionSchedule(args.stepIndex, args.steps, args.pnp_attn_t, args.pnp_f_t);
    const stepOut = newStepOutput(args.x.length);
    const all = Array.from({ length: n }, (_, i) => i);
    for (const [c, chunk] of chunks.entries()) {
      const frames = all.slice(chunk.first, chunk.first + chunk.count);
      this.before(args, { pass: 'keyframes', index: c, done: c, total: chunks.length, samples: 3 * frames.length });
      const feeds = this.keyframeFeeds(args, frames, frameSize, { first: chunk.first, count: chunk.count, recordFrom: chunk.first, recordTo: chunk.first }, inject);
      const out = (await run(this.unet, feeds, ['out'])).out!.data as Float32Array;
      this.count(frames.length);
      // This chunk's share of the keyframes: [recordFrom, recordTo) within its window.
      const rel = chunk.recordFrom - chunk.first;
      const size = chunk.recordTo - chunk.recordFrom;
      const eps = this.guidedEps(out, chunk.count, args.guidance_scale, rel, size, frameSize);
      ddimStep(stepOut, eps, args, chunk.recordFrom * frameSize, chunk.recordTo * frameSize);
    }
    return stepOut;
  }

  async release(): Promise<void> {
    await this.unet.session.release();
  }

  private checkLatents(args: KeyframeStepArgs): number {
    const { n, h, w } = args.shape;
    const frameSize = this.config.in_channels * h * w;
    for (const [what, a] of [['x', args.x], ['srcLatents', args.srcLatents]] as const) {
      if (a.length !== n * frameSize) throw new Error(`edit step: ${what} has ${a.length} values, expected [${n}, ${this.config.in_channels}, ${h}, ${w}] = ${n * frameSize}`);
    }
    const width = this.textWidth;
    for (const [what, e] of Object.entries(args.embeds)) {
      if (e.length === 0 || e.length % width !== 0) throw new Error(`edit step: embeds.${what} has ${e.length} values, not a multiple of the UNet's text width ${width}`);
      if (e.length !== args.embeds.src.length) throw new Error(`edit step: embeds.${what} has ${e.length} values, embeds.src ${args.embeds.src.length}`);
    }
    if (args.scheduler.numInferenceSteps !== args.steps) {
      throw new Error(`edit step: the scheduler is set to ${args.scheduler.numInferenceSteps} steps, steps is ${args.steps}`);
    }
    if (!args.scheduler.timesteps.includes(args.t)) throw new Error(`edit step: timestep ${args.t} is not on the ${args.steps}-step schedule`);
    return frameSize;
  }

  private get textWidth(): number {
    return unetBlockSettings(this.config)[0]!.crossAttentionDim;
  }

  /** Cancellation point before each UNet call (also honouring an abort raised by the progress callback). */
  private before(args: KeyframeStepArgs, info: UNetCallInfo): void {
    args.signal?.throwIfAborted();
    args.onUnetCall?.(info);
    args.signal?.throwIfAborted();
  }

  private count(frames: number): void {
    this.calls++;
    this.evaluations += 3 * frames;
  }

  private async keyframePass(
    args: EditStepArgs, frames: number[], frameSize: number, chunk: KeyframeChunk, inject: { qk: boolean; conv: boolean },
  ): Promise<BlockRecordOutput[]> {
    const feeds = this.keyframeFeeds(args, frames, frameSize, chunk, inject);
    const fetches = this.blocks.flatMap((b) => Object.values(recordOutputNames(b)));
    const result = await run(this.unet, feeds, fetches);
    this.count(frames.length);
    return this.blocks.map((b) => {
      const names = recordOutputNames(b);
      const p = result[names.pSrc]!;
      const a = result[names.attn]!;
      return { dimsP: p.dims, dataP: p.data as Float32Array, dimsA: a.dims, dataA: a.data as Float32Array };
    });
  }

  private keyframeFeeds(
    args: KeyframeStepArgs, frames: number[], frameSize: number, chunk: KeyframeChunk, inject: { qk: boolean; conv: boolean },
  ): Feeds {
    return {
      ...this.commonFeeds(args, frames.map((f) => ({ start: f, size: 1 })), frameSize, inject.conv),
      ...this.idlePropagateInputs,
      [MODE_INPUTS.propagate]: flag(false),
      [MODE_INPUTS.injectQk]: flag(inject.qk),
      [MODE_INPUTS.recordRange]: recordRange(chunk.recordFrom - chunk.first, chunk.recordTo - chunk.first),
    };
  }

  private async propagatePass(
    args: EditStepArgs, batch: number, range: BatchRange, frameSize: number, tokens: KeyframeTokens, injectConv: boolean,
  ): Promise<Float32Array> {
    const cur = tokens.get(batch);
    const prev = tokens.get(batch === 0 ? 0 : batch - 1);
    const weights = batch === 0 ? firstBatchWeights(range.size) : blendWeights(args.batch_size, range.size);
    const feeds: Feeds = {
      ...this.commonFeeds(args, [range], frameSize, injectConv),
      [MODE_INPUTS.propagate]: flag(true),
      [MODE_INPUTS.injectQk]: flag(false),
      [MODE_INPUTS.recordRange]: recordRange(0, 0),
      [MODE_INPUTS.blendWeights]: new ort.Tensor('float32', weights, [range.size]),
    };
    this.blocks.forEach((b, i) => {
      const names = keyframeInputNames(b);
      const c = cur[i]!;
      const p = prev[i]!;
      feeds[names.curP] = new ort.Tensor('float32', c.pSrc, [c.tokens, c.channels]);
      feeds[names.curA] = new ort.Tensor('float32', c.attn, [3, c.tokens, c.channels]);
      feeds[names.prevP] = new ort.Tensor('float32', p.pSrc, [p.tokens, p.channels]);
      feeds[names.prevA] = new ort.Tensor('float32', p.attn, [3, p.tokens, p.channels]);
    });
    const fetches = ['out'];
    const wantDebug = this.debug && args.onDebugTensor;
    if (wantDebug) for (const b of this.blocks) fetches.push(...Object.values(debugOutputNames(b)));
    const result = await run(this.unet, feeds, fetches);
    this.count(range.size);
    if (wantDebug) {
      for (const b of this.blocks) {
        for (const [key, name] of Object.entries(debugOutputNames(b))) {
          if (batch === 0 && key === 'nnPrev') continue; // batch 0 has no previous keyframe
          const t = result[name]!;
          args.onDebugTensor!(`b${batch}.${name}`, { dims: [...t.dims], data: t.data as Float32Array | BigInt64Array });
        }
      }
    }
    return this.guidedEps(result.out!.data as Float32Array, range.size, args.guidance_scale, 0, range.size, frameSize);
  }

  /** sample [3m, 4, h, w] (src latents, x, x of the given frames), timestep, text [3m, S, D], conv switch. */
  private commonFeeds(args: KeyframeStepArgs, ranges: BatchRange[], frameSize: number, injectConv: boolean): Feeds {
    const m = ranges.reduce((s, r) => s + r.size, 0);
    const { h, w } = args.shape;
    const sample = new Float32Array(3 * m * frameSize);
    let o = 0;
    for (const source of [args.srcLatents, args.x, args.x]) {
      for (const r of ranges) {
        sample.set(source.subarray(r.start * frameSize, (r.start + r.size) * frameSize), o);
        o += r.size * frameSize;
      }
    }
    const width = this.textWidth;
    return {
      sample: new ort.Tensor('float32', sample, [3 * m, this.config.in_channels, h, w]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(BigInt(args.t)), [1]),
      encoder_hidden_states: new ort.Tensor('float32', this.text(args.embeds, m), [3 * m, args.embeds.src.length / width, width]),
      [MODE_INPUTS.injectConv]: flag(injectConv),
    };
  }

  /** [src x m, unc x m, cnd x m] embeddings, kept while the same embeddings are passed. */
  private text(embeds: BranchEmbeddings, m: number): Float32Array {
    const cache = this.textCache;
    if (!cache || cache.embeds.src !== embeds.src || cache.embeds.unc !== embeds.unc || cache.embeds.cnd !== embeds.cnd) {
      this.textCache = { embeds: { ...embeds }, byCount: new Map() };
    }
    const byCount = this.textCache!.byCount;
    let text = byCount.get(m);
    if (!text) {
      const per = embeds.src.length;
      text = new Float32Array(3 * m * per);
      [embeds.src, embeds.unc, embeds.cnd].forEach((e, b) => {
        for (let i = 0; i < m; i++) text!.set(e, (b * m + i) * per);
      });
      byCount.set(m, text);
    }
    return text;
  }

  /** CFG over frames [from, from + size) of a [3m, ...] noise prediction. */
  private guidedEps(out: Float32Array, m: number, guidance: number, from: number, size: number, frameSize: number): Float32Array {
    const slice = (branch: number) => out.subarray((branch * m + from) * frameSize, (branch * m + from + size) * frameSize);
    return classifierFreeGuidance(slice(1), slice(2), guidance);
  }
}

function newStepOutput(values: number): StepOutput {
  return { prevSample: new Float32Array(values), predOriginalSample: new Float32Array(values) };
}

/** The DDIM step of latents [from, to) of args.x with their guided noise `eps`, written into `out`. */
function ddimStep(out: StepOutput, eps: Float32Array, args: KeyframeStepArgs, from: number, to: number): void {
  const step = args.scheduler.step(eps, args.t, args.x.subarray(from, to));
  out.prevSample.set(step.prevSample, from);
  out.predOriginalSample.set(step.predOriginalSample, from);
}

function flag(on: boolean): ort.Tensor {
  return new ort.Tensor('bool', Uint8Array.of(on ? 1 : 0), [1]);
}

function recordRange(from: number, to: number): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.of(BigInt(from), BigInt(to)), [2]);
}

/** Debug: the keyframe pass's records of all keyframes, as the golden `kf.<block>.P_src` [K, T, D] and `kf.<block>.A` [3, K, T, D]. */
function emitKeyframeRecords(
  blocks: readonly string[], parts: { first: number; outputs: BlockRecordOutput[] }[], emit: (name: string, t: DebugTensor) => void,
): void {
  blocks.forEach((block, b) => {
    const [, T, D] = parts[0]!.outputs[b]!.dimsP as [number, number, number];
    const K = parts.reduce((s, p) => s + p.outputs[b]!.dimsP[0]!, 0);
    const per = T * D;
    const pSrc = new Float32Array(K * per);
    const attn = new Float32Array(3 * K * per);
    for (const { first, outputs } of parts) {
      const o = outputs[b]!;
      const r = o.dimsP[0]!;
      pSrc.set(o.dataP, first * per);
      for (let k = 0; k < r; k++) {
        for (let br = 0; br < 3; br++) {
          attn.set(o.dataA.subarray((k * 3 + br) * per, (k * 3 + br + 1) * per), (br * K + first + k) * per);
        }
      }
    }
    emit(`kf.${block}.P_src`, { dims: [K, T, D], data: pSrc });
    emit(`kf.${block}.A`, { dims: [3, K, T, D], data: attn });
  });
}
