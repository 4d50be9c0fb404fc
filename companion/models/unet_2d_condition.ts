// diffusers models/unets/unet_2d_condition.py: UNet2DConditionModel (SD 1.x / 2.x subset),
// built as one ONNX graph. Modes (TokenFlow's keyframes / propagate passes) are UNetHooks;
// plain mode passes none.
import { Graph, type GraphDType, type Value } from '../runtime/graph.ts';
import { graphVariant, type Provider } from '../runtime/providers.ts';
import { conv2d, groupNorm, silu } from '../runtime/nn.ts';
import type { Weights } from '../runtime/weights.ts';
import { readConfig, unetBlockSettings, unetConfigSchema, type UNetConfig } from './config.ts';
import { timestepEmbedding, timesteps } from './embeddings.ts';
import { openComponentWeights } from './folder.ts';
import {
  crossAttnDownBlock2D, crossAttnUpBlock2D, downBlock2D, unetMidBlock2DCrossAttn, upBlock2D,
  type BlockContext, type ResnetSettings,
} from './unet_2d_blocks.ts';
import type { UNetHooks } from './unet_hooks.ts';

export type { UNetConfig } from './config.ts';
export type { ResnetContext, SelfAttentionContext, UNetHooks } from './unet_hooks.ts';

/** The graph's output name (inputs: `sample`, `timestep`, `encoder_hidden_states`). */
export const UNET_OUTPUT = 'out';

/**
 * The UNet on sample [B, in, H, W], timestep [B or 1] (int64) and encoderHiddenStates
 * [B, S, cross_attention_dim]; returns the noise prediction [B, out, H, W]. H and W need not
 * be multiples of the total downscale: each upsampler then resizes to its skip's size.
 */
export function unet2DConditionModel(
  g: Graph, w: Weights, sample: Value, timestep: Value, encoderHiddenStates: Value, config: UNetConfig, hooks: UNetHooks = {},
): Value {
  const blocks = unetBlockSettings(config);
  const channels = config.block_out_channels;
  const n = channels.length;
  const tap = (name: string, v: Value) => hooks.tap?.(name, v, g);

  // Time: one timestep per sample (a single one is broadcast, as diffusers' expand).
  const batch = g.node('Slice', [g.node('Shape', [sample], {}, { name: 'time_proj' }), g.ints([0]), g.ints([1])], {}, { name: 'time_proj' });
  const t = g.node('Expand', [timestep, batch], {}, { name: 'time_proj' }); // [B]
  const tProj = timesteps(g, t, channels[0]!, { flipSinToCos: config.flip_sin_to_cos, downscaleFreqShift: config.freq_shift });
  const timeEmbedDim = config.time_embedding_dim ?? channels[0]! * 4;
  // Computed in float32 (sin/cos of t * f need it at t ~ 1000), then in the sample's precision.
  const temb = g.cast(timestepEmbedding(g, w.pp('time_embedding'), tProj, channels[0]!, timeEmbedDim), sample.type, 'time_embedding'); // [B, time_embed_dim]
  tap('time_embedding.output', temb);

  const ctx: BlockContext = { temb, encoderHiddenStates, hooks };
  const resnetSettings: ResnetSettings = { tembChannels: timeEmbedDim, groups: config.norm_num_groups, eps: config.norm_eps };
  const crossAttn = (i: number) => ({
    heads: blocks[i]!.heads,
    crossAttentionDim: blocks[i]!.crossAttentionDim,
    transformerLayers: blocks[i]!.transformerLayers,
    useLinearProjection: config.use_linear_projection,
    upcastAttention: config.upcast_attention ?? false,
  });

  let h = sample;
  if (config.center_input_sample) h = g.node('Sub', [g.node('Mul', [h, g.scalar(2, h.type)], {}, { name: 'center_input_sample' }), g.scalar(1, h.type)], {}, { name: 'center_input_sample' });
  h = conv2d(g, w.pp('conv_in'), h, config.in_channels, channels[0]!, { kernel: config.conv_in_kernel });
  tap('conv_in.output', h);

  // Down path: every resnet/attention output (and downsampler output) is a skip connection.
  const resSamples: Value[] = [h];
  config.down_block_types.forEach((type, i) => {
    const cfg = {
      ...resnetSettings,
      inChannels: i === 0 ? channels[0]! : channels[i - 1]!,
      outChannels: channels[i]!,
      layers: blocks[i]!.layers,
      addDownsample: i < n - 1,
      downsamplePadding: config.downsample_padding,
    };
    const bw = w.pp('down_blocks').pp(i);
    const out = type === 'CrossAttnDownBlock2D'
      ? crossAttnDownBlock2D(g, bw, h, { ...cfg, ...crossAttn(i) }, ctx)
      : downBlock2D(g, bw, h, cfg, ctx);
    h = out.hiddenStates;
    resSamples.push(...out.resSamples);
    tap(`down_blocks.${i}.output`, h);
  });

  h = unetMidBlock2DCrossAttn(g, w.pp('mid_block'), h, {
    ...resnetSettings, ...crossAttn(n - 1), channels: channels[n - 1]!, outputScaleFactor: config.mid_block_scale_factor,
  }, ctx);
  tap('mid_block.output', h);

  // Up path, mirrored: up block i consumes the skips of down block n-1-i.
  let prevOutput = channels[n - 1]!;
  config.up_block_types.forEach((type, i) => {
    const d = n - 1 - i; // the mirrored down block
    const layers = blocks[d]!.layers + 1;
    const skips = resSamples.splice(resSamples.length - layers, layers);
    const isFinal = i === n - 1;
    const cfg = {
      ...resnetSettings,
      inChannels: channels[Math.max(d - 1, 0)]!,
      prevOutputChannels: prevOutput,
      outChannels: channels[d]!,
      layers,
      addUpsample: !isFinal,
    };
    // The next up block's first skip has the size this block must upsample to.
    const sizeOf = isFinal ? undefined : resSamples[resSamples.length - 1];
    const bw = w.pp('up_blocks').pp(i);
    h = type === 'CrossAttnUpBlock2D'
      ? crossAttnUpBlock2D(g, bw, h, skips, sizeOf, { ...cfg, ...crossAttn(d) }, ctx)
      : upBlock2D(g, bw, h, skips, sizeOf, cfg, ctx);
    prevOutput = channels[d]!;
    tap(`up_blocks.${i}.output`, h);
  });

  h = silu(g, groupNorm(g, w.pp('conv_norm_out'), h, channels[0]!, config.norm_num_groups, config.norm_eps), 'conv_act');
  return conv2d(g, w.pp('conv_out'), h, channels[0]!, config.out_channels, { kernel: config.conv_out_kernel });
}

/** The golden `unet_taps` names (fixtures README): what the `taps` option exposes as outputs. */
export function isGoldenTap(name: string): boolean {
  return /\.attn1\.(input|output)$/.test(name)
    || /^(time_embedding|conv_in|mid_block|(down|up)_blocks\.\d+)\.output$/.test(name)
    || name.startsWith('up_blocks.1.resnets.1.');
}

export interface BuildUNetOptions {
  /** Expose the golden unet_taps intermediates as extra graph outputs named like the taps. */
  taps?: boolean;
  hooks?: UNetHooks;
  /** Where weights of another float type than the graph's are converted once (see WeightStore). */
  conversionCacheDir?: string;
  /**
   * Activation and weight precision (default float32). Inputs and outputs (taps included)
   * stay float32; norms, attention and the timestep embedding compute in float32.
   */
  dtype?: GraphDType;
  /** The execution provider the graph is built for (its op forms, nn.ts); default cpu. */
  provider?: Provider;
}

/**
 * Reads `<modelDir>/unet` (config.json and safetensors), builds the UNet graph with inputs
 * `sample`, `timestep`, `encoder_hidden_states` and output `out`, and fails naming the
 * weights when the checkpoint and the config disagree (missing, misshapen or unused weights).
 */
export function buildUNetGraph(modelDir: string, options: BuildUNetOptions = {}): { graph: Graph; config: UNetConfig } {
  const config = readConfig(modelDir, 'unet', unetConfigSchema);
  const dtype = options.dtype ?? 'float32';
  const store = openComponentWeights(modelDir, 'unet', options.conversionCacheDir, dtype);
  const g = new Graph('unet', graphVariant(options.provider ?? 'cpu'));
  const crossDim = unetBlockSettings(config)[0]!.crossAttentionDim;
  const sample = g.cast(g.input('sample', 'float32', ['batch', config.in_channels, 'height', 'width']), dtype, 'sample');
  // Its own symbolic size: a single timestep may be given for the whole batch.
  const timestep = g.input('timestep', 'int64', ['timesteps']);
  const encoderHiddenStates = g.cast(g.input('encoder_hidden_states', 'float32', ['batch', 'sequence', crossDim]), dtype, 'encoder_hidden_states');

  const user = options.hooks ?? {};
  const hooks: UNetHooks = options.taps
    ? {
        ...user,
        tap: (name, value, graph) => {
          user.tap?.(name, value, graph);
          if (isGoldenTap(name)) graph.output(value, name);
        },
      }
    : user;
  const out = unet2DConditionModel(g, store.root(), sample, timestep, encoderHiddenStates, config, hooks);
  g.output(out, UNET_OUTPUT, 'float32', ['batch', config.out_channels, 'height', 'width']);
  store.assertAllUsed();
  return { graph: g, config };
}
