// diffusers AutoencoderKL (models/autoencoders/autoencoder_kl.py) with its Encoder and Decoder
// (models/autoencoders/vae.py), as two ONNX graphs: the encoder returns the posterior's mean
// and clamped logvar (DiagonalGaussianDistribution), the decoder maps latents, already divided
// by `scaling_factor`, back to images in about [-1, 1].
// https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/models/autoencoders/vae.py
//
// The resnets and resamplers are resnet.ts's (without time embedding; Downsample2D padding 0).
import { Graph, type GraphDType, type Value } from '../runtime/graph.ts';
import { graphVariant, type Provider } from '../runtime/providers.ts';
import { attention, conv2d, groupNorm, linear, projection, silu } from '../runtime/nn.ts';
import type { Weights } from '../runtime/weights.ts';
import { readConfig, vaeConfigSchema, type VaeConfig } from './config.ts';
import { openComponentWeights } from './folder.ts';
import { downsample2D, resnetBlock2D, upsample2D } from './resnet.ts';

export type { VaeConfig };

export interface VaeBuildOptions {
  /** Folder for the one-time copy of weights in the graph's dtype (required for other weights). */
  conversionCacheDir?: string;
  /** Activation and weight precision (default float32); inputs and outputs stay float32. */
  dtype?: GraphDType;
  /** The execution provider the graph is built for (its op forms, nn.ts); default cpu. */
  provider?: Provider;
}

/** Every GroupNorm of the diffusers VAE (resnets, mid attention, conv_norm_out) uses eps 1e-6. */
const VAE_NORM_EPS = 1e-6;

/** DiagonalGaussianDistribution clamps logvar to this range before using it. */
const LOGVAR_MIN = -30;
const LOGVAR_MAX = 20;

interface Norm {
  groups: number;
  eps: number;
}

export function readVaeConfig(modelDir: string): VaeConfig {
  return readConfig(modelDir, 'vae', vaeConfigSchema);
}

/**
 * AutoencoderKL.encode: input `image` [B, in_channels, H, W] in [-1, 1]; outputs `mean` and
 * `logvar` [B, latent_channels, H/f, W/f] with f = 2^(blocks-1). Sample or take the mean, then
 * multiply by `config.scaling_factor` to get UNet latents.
 */
export function buildVaeEncoderGraph(modelDir: string, options: VaeBuildOptions = {}): { graph: Graph; config: VaeConfig } {
  const config = readVaeConfig(modelDir);
  const dtype = options.dtype ?? 'float32';
  const store = openComponentWeights(modelDir, 'vae', options.conversionCacheDir, dtype);
  const w = store.root();
  const L = config.latent_channels;
  const g = new Graph('vae_encoder', graphVariant(options.provider ?? 'cpu'));
  const image = g.cast(g.input('image', 'float32', ['batch', config.in_channels, 'height', 'width']), dtype, 'image');
  let moments = encoder(g, w.pp('encoder'), image, config); // [B, 2L, h, w]
  if (config.use_quant_conv) moments = conv2d(g, w.pp('quant_conv'), moments, 2 * L, 2 * L, { kernel: 1 });
  const [mean, logvar] = g.op('Split', [moments, g.ints([L, L])], { axis: 1 }, { name: 'latent_dist', outputs: 2 }) as [Value, Value];
  const clamped = g.node('Clip', [logvar, g.scalar(LOGVAR_MIN, logvar.type), g.scalar(LOGVAR_MAX, logvar.type)], {}, { name: 'latent_dist' });
  g.output(mean, 'mean', 'float32', ['batch', L, 'latent_height', 'latent_width']);
  g.output(clamped, 'logvar', 'float32', ['batch', L, 'latent_height', 'latent_width']);
  store.assertAllUsed((name) => !isEncoderWeight(name, config));
  return { graph: g, config };
}

/**
 * AutoencoderKL.decode: input `latents` [B, latent_channels, h, w], already divided by
 * `scaling_factor`; output `image` [B, out_channels, h*f, w*f] (not clamped).
 */
export function buildVaeDecoderGraph(modelDir: string, options: VaeBuildOptions = {}): { graph: Graph; config: VaeConfig } {
  const config = readVaeConfig(modelDir);
  const dtype = options.dtype ?? 'float32';
  const store = openComponentWeights(modelDir, 'vae', options.conversionCacheDir, dtype);
  const w = store.root();
  const L = config.latent_channels;
  const g = new Graph('vae_decoder', graphVariant(options.provider ?? 'cpu'));
  let z = g.cast(g.input('latents', 'float32', ['batch', L, 'latent_height', 'latent_width']), dtype, 'latents');
  if (config.use_post_quant_conv) z = conv2d(g, w.pp('post_quant_conv'), z, L, L, { kernel: 1 });
  const image = decoder(g, w.pp('decoder'), z, config);
  g.output(image, 'image', 'float32', ['batch', config.out_channels, 'height', 'width']);
  store.assertAllUsed((name) => isEncoderWeight(name, config));
  return { graph: g, config };
}

/** Which half of the checkpoint a weight belongs to; each graph must use all of its half. */
function isEncoderWeight(name: string, config: VaeConfig): boolean {
  return name.startsWith('encoder.') || (config.use_quant_conv && name.startsWith('quant_conv.'));
}

/** diffusers Encoder: conv_in, DownEncoderBlock2Ds, UNetMidBlock2D, GroupNorm, SiLU, conv_out (2L channels). */
export function encoder(g: Graph, w: Weights, image: Value, config: VaeConfig): Value {
  const channels = config.block_out_channels;
  const norm = { groups: config.norm_num_groups, eps: VAE_NORM_EPS };
  let h = conv2d(g, w.pp('conv_in'), image, config.in_channels, channels[0]!); // [B, C0, H, W]
  let inChannels = channels[0]!;
  channels.forEach((outChannels, i) => {
    const addDownsample = i < channels.length - 1;
    h = downEncoderBlock2D(g, w.pp('down_blocks').pp(i), h, inChannels, outChannels, config.layers_per_block, addDownsample, norm);
    inChannels = outChannels;
  });
  const top = channels[channels.length - 1]!;
  h = unetMidBlock2D(g, w.pp('mid_block'), h, top, config.mid_block_add_attention, norm);
  h = silu(g, groupNorm(g, w.pp('conv_norm_out'), h, top, norm.groups, norm.eps), w.path);
  return conv2d(g, w.pp('conv_out'), h, top, 2 * config.latent_channels); // [B, 2L, h, w]: mean, logvar
}

/** diffusers Decoder: conv_in, UNetMidBlock2D, UpDecoderBlock2Ds (reversed channels), GroupNorm, SiLU, conv_out. */
export function decoder(g: Graph, w: Weights, z: Value, config: VaeConfig): Value {
  const reversed = [...config.block_out_channels].reverse();
  const norm = { groups: config.norm_num_groups, eps: VAE_NORM_EPS };
  let h = conv2d(g, w.pp('conv_in'), z, config.latent_channels, reversed[0]!); // [B, C_top, h, w]
  h = unetMidBlock2D(g, w.pp('mid_block'), h, reversed[0]!, config.mid_block_add_attention, norm);
  let inChannels = reversed[0]!;
  reversed.forEach((outChannels, i) => {
    const addUpsample = i < reversed.length - 1;
    h = upDecoderBlock2D(g, w.pp('up_blocks').pp(i), h, inChannels, outChannels, config.layers_per_block + 1, addUpsample, norm);
    inChannels = outChannels;
  });
  const bottom = config.block_out_channels[0]!;
  h = silu(g, groupNorm(g, w.pp('conv_norm_out'), h, bottom, norm.groups, norm.eps), w.path);
  return conv2d(g, w.pp('conv_out'), h, bottom, config.out_channels); // [B, out_channels, H, W]
}

function downEncoderBlock2D(
  g: Graph, w: Weights, x: Value, inChannels: number, outChannels: number, layers: number, addDownsample: boolean, norm: Norm,
): Value {
  let h = x;
  for (let i = 0; i < layers; i++) {
    h = vaeResnet(g, w.pp('resnets').pp(i), h, i === 0 ? inChannels : outChannels, outChannels, norm);
  }
  return addDownsample ? downsample2D(g, w.pp('downsamplers').pp(0), h, outChannels, { padding: 0 }) : h;
}

function upDecoderBlock2D(
  g: Graph, w: Weights, x: Value, inChannels: number, outChannels: number, layers: number, addUpsample: boolean, norm: Norm,
): Value {
  let h = x;
  for (let i = 0; i < layers; i++) {
    h = vaeResnet(g, w.pp('resnets').pp(i), h, i === 0 ? inChannels : outChannels, outChannels, norm);
  }
  return addUpsample ? upsample2D(g, w.pp('upsamplers').pp(0), h, outChannels) : h;
}

/** UNetMidBlock2D without time embedding: resnet, (attention, resnet). */
function unetMidBlock2D(g: Graph, w: Weights, x: Value, channels: number, addAttention: boolean, norm: Norm): Value {
  let h = vaeResnet(g, w.pp('resnets').pp(0), x, channels, channels, norm);
  if (addAttention) h = vaeAttention(g, w.pp('attentions').pp(0), h, channels, norm);
  return vaeResnet(g, w.pp('resnets').pp(1), h, channels, channels, norm);
}

/** ResnetBlock2D with temb_channels None and output_scale_factor 1. */
function vaeResnet(g: Graph, w: Weights, x: Value, inChannels: number, outChannels: number, norm: Norm): Value {
  return resnetBlock2D(g, w, x, null, { inChannels, outChannels, tembChannels: null, groups: norm.groups, eps: norm.eps, outputScaleFactor: 1 });
}

/** Checkpoint names of the mid-block attention: current diffusers, or the pre-0.14 AttentionBlock. */
const ATTENTION_NAMES = [
  { q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0' },
  { q: 'query', k: 'key', v: 'value', out: 'proj_attn' },
];

/**
 * The VAE's Attention (group_norm, single head of size C, residual connection), as
 * `Attention(channels, heads=1, dim_head=channels, norm_num_groups, eps, bias=True,
 * residual_connection=True, upcast_softmax=True)`. Tokens are the H*W positions.
 */
function vaeAttention(g: Graph, w: Weights, x: Value, channels: number, norm: Norm): Value {
  const names = ATTENTION_NAMES.find((n) => w.has(`${n.q}.weight`)) ?? ATTENTION_NAMES[0]!;
  const shape = g.node('Shape', [x], {}, { name: w.path });
  const normed = groupNorm(g, w.pp('group_norm'), x, channels, norm.groups, norm.eps);
  const flat = g.node('Reshape', [normed, g.ints([0, channels, -1])], {}, { name: w.path }); // [B, C, HW]
  const tokens = g.node('Transpose', [flat], { perm: [0, 2, 1] }, { name: w.path }); // [B, HW, C]
  const q = attentionProjection(g, w.pp(names.q), tokens, channels);
  const k = attentionProjection(g, w.pp(names.k), tokens, channels);
  const v = attentionProjection(g, w.pp(names.v), tokens, channels);
  const a = attention(g, q, k, v, { heads: 1, channels, name: w.path }); // [B, HW, C]
  const out = attentionProjection(g, w.pp(names.out), a, channels);
  const back = g.node('Transpose', [out], { perm: [0, 2, 1] }, { name: w.path }); // [B, C, HW]
  const spatial = g.node('Reshape', [back, shape], {}, { name: w.path }); // [B, C, H, W]
  return g.node('Add', [spatial, x], {}, { name: w.path });
}

/** A C->C linear whose weight is stored [C, C] or, in converted LDM checkpoints, [C, C, 1, 1]. */
function attentionProjection(g: Graph, w: Weights, x: Value, channels: number): Value {
  if (w.shapeOf('weight')?.length !== 4) return linear(g, w, x, channels, channels);
  // x @ W^T on the reshaped weight (transB: no transposed copy of the weight is kept).
  const weight = g.node('Reshape', [g.weight(w.get('weight', [channels, channels, 1, 1])), g.ints([channels, channels])], {}, { name: w.path });
  return projection(g, x, weight, g.weight(w.get('bias', [channels])), w.path);
}
