// The model components the pipeline runs outside the TokenFlow UNet modes, each one ONNX
// Runtime session built from the diffusers folder: the text encoder (prompt embeddings), the
// VAE encoder (frames -> z0) and decoder (latents -> frames), and the plain UNet (inversion).
// Each is loaded when its stage starts and released when it ends, so only one component's
// weights are resident at a time (ORT cannot share initializers between separate sessions).
import path from 'node:path';
import { readConfig, unetBlockSettings, unetConfigSchema } from '../models/config.ts';
import { ClipTokenizer } from '../models/clip_tokenizer.ts';
import { buildTextEncoderGraph } from '../models/clip_text.ts';
import type { WeightComponent } from '../models/diffusers_layout.ts';
import { buildUNetGraph } from '../models/unet_2d_condition.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph, readVaeConfig } from '../models/vae.ts';
import type { Graph, GraphDType } from '../runtime/graph.ts';
import { ort, run, type LoadedSession, type PolicySessionOptions, type Provider } from '../runtime/session.ts';
import { loadGraphSession } from './graph_session.ts';

/**
 * How the pipeline's graphs run: the session options (`dtype` unset: per provider, float16 with
 * float32 norms, attention and timestep embedding on GPU providers, float32 on the CPU) and
 * the caches.
 */
export interface RuntimeOptions extends Pick<PolicySessionOptions, 'providers' | 'memory' | 'threads' | 'dtype' | 'log'> {
  /** Where weights are converted once to the graph's float type (fp16/bf16 -> float32, fp32 -> float16). */
  conversionCacheDir?: string;
  /** Where built graphs are cached (none: built every time; building takes ~0.1 s). */
  graphCacheDir?: string;
}

/** What the pipeline needs to know of a model folder before loading anything. */
export interface ModelInfo {
  dir: string;
  /** VAE scaling factor (0.18215 for SD 1.x/2.x). */
  scalingFactor: number;
  /** Pixels per latent pixel: 2^(VAE blocks - 1), 8 for SD. */
  vaeFactor: number;
  latentChannels: number;
  /** Text width the UNet attends to (768 for SD 1.x, 1024 for SD 2.x). */
  textWidth: number;
}

export function readModelInfo(dir: string): ModelInfo {
  const vae = readVaeConfig(dir);
  const unet = readConfig(dir, 'unet', unetConfigSchema);
  return {
    dir,
    scalingFactor: vae.scaling_factor,
    vaeFactor: 2 ** (vae.block_out_channels.length - 1),
    latentChannels: vae.latent_channels,
    textWidth: unetBlockSettings(unet)[0]!.crossAttentionDim,
  };
}

/** The models/ graph builders: a component's graph from its folder, in `dtype` for `provider`. */
type GraphBuilder = (modelDir: string, options: { conversionCacheDir?: string; dtype: GraphDType; provider: Provider }) => { graph: Graph };

async function session(modelDir: string, folder: WeightComponent, component: string, builder: GraphBuilder, options: RuntimeOptions): Promise<LoadedSession> {
  const { conversionCacheDir } = options;
  const { loaded } = await loadGraphSession(
    { modelDir, folder, component, mode: 'plain', conversionCacheDir, build: (dtype, provider) => ({ graph: builder(modelDir, { conversionCacheDir, dtype, provider }).graph }) },
    {
      providers: options.providers, memory: options.memory, threads: options.threads, log: options.log,
      dtype: options.dtype, graphCacheDir: options.graphCacheDir,
    },
  );
  return loaded;
}

/** Time of the last `load*` call, for the stage timings the CLI prints. */
export interface Loaded {
  loadMs: number;
  release(): Promise<void>;
}

interface TimedSession {
  loaded: LoadedSession;
  loadMs: number;
}

async function timedSession(modelDir: string, folder: WeightComponent, component: string, builder: GraphBuilder, options: RuntimeOptions): Promise<TimedSession> {
  const started = performance.now();
  const loaded = await session(modelDir, folder, component, builder, options);
  return { loaded, loadMs: performance.now() - started };
}

/** A component held for one stage: its session, how long it took to load, and its release. */
abstract class Component implements Loaded {
  protected readonly loaded: LoadedSession;
  readonly loadMs: number;

  protected constructor(timed: TimedSession) {
    this.loaded = timed.loaded;
    this.loadMs = timed.loadMs;
  }

  async release(): Promise<void> {
    await this.loaded.session.release();
  }
}

/** CLIP token ids (77 per prompt) for each prompt. */
export async function tokenize(modelDir: string, prompts: readonly string[]): Promise<number[][]> {
  const tokenizer = await ClipTokenizer.load(path.join(modelDir, 'tokenizer'));
  return prompts.map((p) => tokenizer.encode(p).inputIds);
}

/** The text encoder's session (encodeText loads, runs and releases it). */
export function loadTextEncoder(modelDir: string, options: RuntimeOptions): Promise<LoadedSession> {
  return session(modelDir, 'text_encoder', 'text_encoder', buildTextEncoderGraph, options);
}

/** Runs the text encoder once on the given id rows; returns each row's `last_hidden_state` [77 * D]. */
export async function encodeText(modelDir: string, ids: readonly number[][], options: RuntimeOptions): Promise<{ embeds: Float32Array[]; loadMs: number }> {
  const { loaded, loadMs } = await timedSession(modelDir, 'text_encoder', 'text_encoder', buildTextEncoderGraph, options);
  try {
    const seq = ids[0]!.length;
    const flat = BigInt64Array.from(ids.flat().map(BigInt));
    const out = (await run(loaded, { input_ids: new ort.Tensor('int64', flat, [ids.length, seq]) })).last_hidden_state!;
    const data = out.data as Float32Array;
    const per = data.length / ids.length;
    return { embeds: ids.map((_, i) => data.slice(i * per, (i + 1) * per)), loadMs };
  } finally {
    await loaded.session.release();
  }
}

export class VaeEncoder extends Component {
  static async load(modelDir: string, options: RuntimeOptions): Promise<VaeEncoder> {
    return new VaeEncoder(await timedSession(modelDir, 'vae', 'vae_encoder', buildVaeEncoderGraph, options));
  }

  /** Posterior mean [n, L, h, w] of images [n, 3, H, W] in [-1, 1]. */
  async mean(images: Float32Array, n: number, height: number, width: number): Promise<Float32Array> {
    const out = await run(this.loaded, { image: new ort.Tensor('float32', images, [n, 3, height, width]) }, ['mean']);
    return out.mean!.data as Float32Array;
  }
}

export class VaeDecoder extends Component {
  static async load(modelDir: string, options: RuntimeOptions): Promise<VaeDecoder> {
    return new VaeDecoder(await timedSession(modelDir, 'vae', 'vae_decoder', buildVaeDecoderGraph, options));
  }

  /** Images [n, 3, H, W] (about [-1, 1], not clamped) of latents [n, L, h, w] already divided by the scaling factor. */
  async decode(latents: Float32Array, n: number, channels: number, height: number, width: number): Promise<{ data: Float32Array; dims: number[] }> {
    const out = (await run(this.loaded, { latents: new ort.Tensor('float32', latents, [n, channels, height, width]) })).image!;
    return { data: out.data as Float32Array, dims: [...out.dims] };
  }
}

/** The UNet without hooks: the noise prediction for DDIM inversion. */
export class PlainUNet extends Component {
  static async load(modelDir: string, options: RuntimeOptions): Promise<PlainUNet> {
    return new PlainUNet(await timedSession(modelDir, 'unet', 'unet', buildUNetGraph, options));
  }

  /** eps = unet(x, t, text) for latents x [n, c, h, w], every sample conditioned on `text` [77 * D]. */
  async predict(x: Float32Array, shape: { n: number; c: number; h: number; w: number }, t: number, text: Float32Array, textWidth: number): Promise<Float32Array> {
    const seq = text.length / textWidth;
    const texts = new Float32Array(shape.n * text.length);
    for (let i = 0; i < shape.n; i++) texts.set(text, i * text.length);
    const out = await run(this.loaded, {
      sample: new ort.Tensor('float32', x, [shape.n, shape.c, shape.h, shape.w]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(BigInt(t)), [1]),
      encoder_hidden_states: new ort.Tensor('float32', texts, [shape.n, seq, textWidth]),
    });
    return out.out!.data as Float32Array;
  }
}
