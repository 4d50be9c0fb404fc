// diffusers models/unets/unet_2d_blocks.py: DownBlock2D, CrossAttnDownBlock2D,
// UNetMidBlock2DCrossAttn, UpBlock2D, CrossAttnUpBlock2D. The cross-attention blocks are the
// plain blocks with a Transformer2DModel after each resnet, under the same prefix.
import type { Graph, Value } from '../runtime/graph.ts';
import type { Weights } from '../runtime/weights.ts';
import { transformer2DModel } from './attention.ts';
import { downsample2D, resnetBlock2D, upsample2D } from './resnet.ts';
import type { UNetHooks } from './unet_hooks.ts';

/** Settings every block's resnets share. */
export interface ResnetSettings {
  tembChannels: number;
  groups: number;
  eps: number;
}

/** The Transformer2DModel settings of a cross-attention block. */
export interface CrossAttnSettings {
  heads: number;
  crossAttentionDim: number;
  transformerLayers: number;
  useLinearProjection: boolean;
  /** Attention in float32 in float16 graphs (config upcast_attention). */
  upcastAttention: boolean;
}

/** Tensors every block reads besides its input. */
export interface BlockContext {
  temb: Value;
  encoderHiddenStates: Value;
  hooks: UNetHooks;
}

export interface DownBlockConfig extends ResnetSettings {
  inChannels: number;
  outChannels: number;
  layers: number;
  addDownsample: boolean;
  downsamplePadding: number;
}

export interface DownBlockOutput {
  hiddenStates: Value;
  /** Skip connections, in the order diffusers appends them to down_block_res_samples. */
  resSamples: Value[];
}

/** DownBlock2D: `layers` resnets, then an optional stride-2 downsampler. */
export function downBlock2D(g: Graph, w: Weights, x: Value, cfg: DownBlockConfig, ctx: BlockContext): DownBlockOutput {
  return downPath(g, w, x, cfg, ctx, null);
}

/** CrossAttnDownBlock2D: DownBlock2D with attentions.i after resnets.i. */
export function crossAttnDownBlock2D(g: Graph, w: Weights, x: Value, cfg: DownBlockConfig & CrossAttnSettings, ctx: BlockContext): DownBlockOutput {
  return downPath(g, w, x, cfg, ctx, cfg);
}

function downPath(g: Graph, w: Weights, x: Value, cfg: DownBlockConfig, ctx: BlockContext, attn: CrossAttnSettings | null): DownBlockOutput {
  const resSamples: Value[] = [];
  let h = x;
  for (let i = 0; i < cfg.layers; i++) {
    const cin = i === 0 ? cfg.inChannels : cfg.outChannels;
    h = resnet(g, w.pp('resnets').pp(i), h, cin, cfg.outChannels, 1, cfg, ctx);
    if (attn) h = transformer(g, w.pp('attentions').pp(i), h, cfg.outChannels, cfg, attn, ctx);
    resSamples.push(h);
  }
  if (cfg.addDownsample) {
    h = downsample2D(g, w.pp('downsamplers').pp(0), h, cfg.outChannels, { padding: cfg.downsamplePadding });
    resSamples.push(h);
  }
  return { hiddenStates: h, resSamples };
}

export interface MidBlockConfig extends ResnetSettings, CrossAttnSettings {
  channels: number;
  outputScaleFactor: number;
}

/** UNetMidBlock2DCrossAttn: resnets.0, then (attentions.i, resnets.i+1) for each transformer. */
export function unetMidBlock2DCrossAttn(g: Graph, w: Weights, x: Value, cfg: MidBlockConfig, ctx: BlockContext): Value {
  const C = cfg.channels;
  let h = resnet(g, w.pp('resnets').pp(0), x, C, C, cfg.outputScaleFactor, cfg, ctx);
  // diffusers' mid block has one attention (num_layers=1); its transformer_layers_per_block
  // stacks BasicTransformerBlocks inside that one Transformer2DModel.
  h = transformer(g, w.pp('attentions').pp(0), h, C, cfg, cfg, ctx);
  return resnet(g, w.pp('resnets').pp(1), h, C, C, cfg.outputScaleFactor, cfg, ctx);
}

export interface UpBlockConfig extends ResnetSettings {
  /** Channels of the matching down block's input (the last skip's width). */
  inChannels: number;
  /** Channels arriving from the previous up block (or the mid block). */
  prevOutputChannels: number;
  outChannels: number;
  /** layers_per_block + 1. */
  layers: number;
  addUpsample: boolean;
}

/**
 * UpBlock2D: each resnet takes the hidden states concatenated (channels) with the last
 * remaining skip; then an optional upsampler, to `upsampleSizeOf`'s spatial size when given.
 * `resSamples` are this block's skips in down-path order; they are consumed from the end.
 */
export function upBlock2D(
  g: Graph, w: Weights, x: Value, resSamples: Value[], upsampleSizeOf: Value | undefined, cfg: UpBlockConfig, ctx: BlockContext,
): Value {
  return upPath(g, w, x, resSamples, upsampleSizeOf, cfg, ctx, null);
}

/** CrossAttnUpBlock2D: UpBlock2D with attentions.i after resnets.i. */
export function crossAttnUpBlock2D(
  g: Graph, w: Weights, x: Value, resSamples: Value[], upsampleSizeOf: Value | undefined, cfg: UpBlockConfig & CrossAttnSettings, ctx: BlockContext,
): Value {
  return upPath(g, w, x, resSamples, upsampleSizeOf, cfg, ctx, cfg);
}

function upPath(
  g: Graph, w: Weights, x: Value, resSamples: Value[], upsampleSizeOf: Value | undefined,
  cfg: UpBlockConfig, ctx: BlockContext, attn: CrossAttnSettings | null,
): Value {
  if (resSamples.length !== cfg.layers) throw new Error(`${w.path}: expected ${cfg.layers} skip connections, got ${resSamples.length}`);
  const skips = [...resSamples];
  let h = x;
  for (let i = 0; i < cfg.layers; i++) {
    const skipChannels = i === cfg.layers - 1 ? cfg.inChannels : cfg.outChannels;
    const cin = (i === 0 ? cfg.prevOutputChannels : cfg.outChannels) + skipChannels;
    h = g.node('Concat', [h, skips.pop()!], { axis: 1 }, { name: w.path }); // [B, cin, H, W]
    h = resnet(g, w.pp('resnets').pp(i), h, cin, cfg.outChannels, 1, cfg, ctx);
    if (attn) h = transformer(g, w.pp('attentions').pp(i), h, cfg.outChannels, cfg, attn, ctx);
  }
  if (cfg.addUpsample) h = upsample2D(g, w.pp('upsamplers').pp(0), h, cfg.outChannels, upsampleSizeOf);
  return h;
}

function resnet(g: Graph, w: Weights, x: Value, cin: number, cout: number, outputScaleFactor: number, s: ResnetSettings, ctx: BlockContext): Value {
  return resnetBlock2D(g, w, x, ctx.temb, {
    inChannels: cin, outChannels: cout, tembChannels: s.tembChannels, groups: s.groups, eps: s.eps, outputScaleFactor,
  }, ctx.hooks);
}

function transformer(g: Graph, w: Weights, x: Value, channels: number, s: ResnetSettings, a: CrossAttnSettings, ctx: BlockContext): Value {
  return transformer2DModel(g, w, x, ctx.encoderHiddenStates, {
    channels, heads: a.heads, crossAttentionDim: a.crossAttentionDim, layers: a.transformerLayers,
    groups: s.groups, useLinearProjection: a.useLinearProjection, upcastAttention: a.upcastAttention,
  }, ctx.hooks);
}
