// diffusers models/attention_processor.py (Attention with the default AttnProcessor),
// models/attention.py (FeedForward with GEGLU, BasicTransformerBlock) and
// models/transformers/transformer_2d.py (Transformer2DModel, continuous input).
// The self-attention of every BasicTransformerBlock is the TokenFlow hook point.
import type { Graph, Value } from '../runtime/graph.ts';
import { attention as multiHeadAttention, conv2d, gelu, groupNorm, layerNorm, linearLayer, projection } from '../runtime/nn.ts';
import type { Weights } from '../runtime/weights.ts';
import type { SelfAttentionContext, UNetHooks } from './unet_hooks.ts';

/** BasicTransformerBlock / Attention constants in every SD 1.x / 2.x UNet. */
const LAYER_NORM_EPS = 1e-5;
const TRANSFORMER_GROUP_NORM_EPS = 1e-6;
const FF_MULT = 4;

export interface AttentionConfig {
  /** Width of the hidden states (query_dim). */
  queryDim: number;
  /** Width of the context for cross-attention; null for self-attention. */
  crossAttentionDim: number | null;
  heads: number;
  dimHead: number;
  /** Attention in float32 even in a float16 graph (the UNet config's upcast_attention). */
  upcast: boolean;
}

/** The projections of one Attention module, weights fetched now, nodes emitted on use. */
interface AttentionLayers {
  toQ: (x: Value) => Value;
  toK: (x: Value) => Value;
  toV: (x: Value) => Value;
  toOut: (x: Value) => Value;
  attend: (q: Value, k: Value, v: Value) => Value;
}

function attentionLayers(g: Graph, w: Weights, cfg: AttentionConfig): AttentionLayers {
  const inner = cfg.heads * cfg.dimHead;
  const kvDim = cfg.crossAttentionDim ?? cfg.queryDim;
  // SD checkpoints have no q/k/v bias (attention_bias=False); accept one if a variant has it.
  const proj = (seg: string, inF: number) => linearLayer(g, w.pp(seg), inF, inner, { bias: w.pp(seg).has('bias') });
  return {
    toQ: proj('to_q', cfg.queryDim),
    toK: proj('to_k', kvDim),
    toV: proj('to_v', kvDim),
    toOut: linearLayer(g, w.pp('to_out').pp(0), inner, cfg.queryDim),
    attend: (q, k, v) => multiHeadAttention(g, q, k, v, { heads: cfg.heads, channels: inner, float32: cfg.upcast, name: w.path }),
  };
}

/** Attention: to_out.0(MHA(to_q(x), to_k(ctx), to_v(ctx))) with ctx = x for self-attention. [B, T, C] */
export function attention(g: Graph, w: Weights, hiddenStates: Value, encoderHiddenStates: Value | null, cfg: AttentionConfig): Value {
  const l = attentionLayers(g, w, cfg);
  const context = encoderHiddenStates ?? hiddenStates;
  return l.toOut(l.attend(l.toQ(hiddenStates), l.toK(context), l.toV(context)));
}

/**
 * The self-attention (attn1) of a transformer block, handed to `hooks.selfAttention` first.
 * q/k/v are projected at most once, and only if someone asks for them.
 */
function selfAttention(g: Graph, w: Weights, hiddenStates: Value, normHiddenStates: Value, cfg: AttentionConfig, hooks: UNetHooks): Value {
  const l = attentionLayers(g, w, cfg);
  const once = (f: () => Value) => {
    let v: Value | undefined;
    return () => (v ??= f());
  };
  const q = once(() => l.toQ(normHiddenStates));
  const k = once(() => l.toK(normHiddenStates));
  const v = once(() => l.toV(normHiddenStates));
  const ctx: SelfAttentionContext = {
    g, path: w.path, hiddenStates, normHiddenStates,
    channels: cfg.queryDim, heads: cfg.heads, headDim: cfg.dimHead,
    q, k, v,
    attend: l.attend,
    out: l.toOut,
    plain: once(() => l.toOut(l.attend(q(), k(), v()))),
  };
  return hooks.selfAttention?.(ctx) ?? ctx.plain();
}

/**
 * FeedForward with GEGLU: net.0.proj gives [h, gate] (halves of the last axis), h * gelu(gate)
 * (exact erf GELU), then net.2. The projection weight's rows are sliced rather than its
 * output split, so no activation copy is made (ORT folds the two weight slices once).
 */
export function feedForward(g: Graph, w: Weights, x: Value, dim: number, innerDim = dim * FF_MULT): Value {
  const proj = w.pp('net').pp(0).pp('proj');
  const name = proj.path;
  const weight = g.weight(proj.get('weight', [2 * innerDim, dim])); // [2*inner, dim]
  const bias = g.weight(proj.get('bias', [2 * innerDim]));
  const half = (input: Value, from: number) => g.node('Slice', [input, g.ints([from]), g.ints([from + innerDim]), g.ints([0])], {}, { name });
  const project = (from: number) => projection(g, x, half(weight, from), half(bias, from), name); // [B, T, inner]
  const act = g.node('Mul', [project(0), gelu(g, project(innerDim), name)], {}, { name });
  return linearLayer(g, w.pp('net').pp(2), innerDim, dim)(act);
}

export interface BasicTransformerBlockConfig {
  dim: number;
  heads: number;
  dimHead: number;
  crossAttentionDim: number;
  upcastAttention: boolean;
}

/**
 * BasicTransformerBlock (layer_norm, GEGLU): h += attn1(norm1 h); h += attn2(norm2 h, text);
 * h += ff(norm3 h). Taps `<attn1>.input` (norm1 output) and `<attn1>.output` (before the add).
 */
export function basicTransformerBlock(
  g: Graph, w: Weights, hiddenStates: Value, encoderHiddenStates: Value, cfg: BasicTransformerBlockConfig, hooks: UNetHooks = {},
): Value {
  const { dim, heads, dimHead } = cfg;
  const name = w.path;
  const attn1 = w.pp('attn1');
  const n1 = layerNorm(g, w.pp('norm1'), hiddenStates, dim, LAYER_NORM_EPS);
  hooks.tap?.(`${attn1.path}.input`, n1, g);
  const a1 = selfAttention(g, attn1, hiddenStates, n1, { queryDim: dim, crossAttentionDim: null, heads, dimHead, upcast: cfg.upcastAttention }, hooks);
  hooks.tap?.(`${attn1.path}.output`, a1, g);
  let h = g.node('Add', [a1, hiddenStates], {}, { name });
  const n2 = layerNorm(g, w.pp('norm2'), h, dim, LAYER_NORM_EPS);
  const a2 = attention(g, w.pp('attn2'), n2, encoderHiddenStates, { queryDim: dim, crossAttentionDim: cfg.crossAttentionDim, heads, dimHead, upcast: cfg.upcastAttention });
  h = g.node('Add', [a2, h], {}, { name });
  const n3 = layerNorm(g, w.pp('norm3'), h, dim, LAYER_NORM_EPS);
  return g.node('Add', [feedForward(g, w.pp('ff'), n3, dim), h], {}, { name });
}

export interface Transformer2DModelConfig {
  /** in_channels = heads * dimHead in every SD UNet. */
  channels: number;
  heads: number;
  crossAttentionDim: number;
  layers: number;
  groups: number;
  /** proj_in/proj_out as linear layers on tokens (SD 2.x) instead of 1x1 convs (SD 1.x). */
  useLinearProjection: boolean;
  upcastAttention: boolean;
}

/**
 * Transformer2DModel on NCHW input: GroupNorm (eps 1e-6) -> proj_in -> tokens [B, H*W, C]
 * (row-major h, w) -> transformer blocks -> proj_out -> back to NCHW, plus the input.
 */
export function transformer2DModel(
  g: Graph, w: Weights, x: Value, encoderHiddenStates: Value, cfg: Transformer2DModelConfig, hooks: UNetHooks = {},
): Value {
  const { channels: C, heads } = cfg;
  const dimHead = C / heads;
  const name = w.path;
  const normed = groupNorm(g, w.pp('norm'), x, C, cfg.groups, TRANSFORMER_GROUP_NORM_EPS);
  const toTokens = (nchw: Value) => {
    const nhwc = g.node('Transpose', [nchw], { perm: [0, 2, 3, 1] }, { name }); // [B, H, W, C]
    return { nhwcShape: g.node('Shape', [nhwc], {}, { name }), tokens: g.node('Reshape', [nhwc, g.ints([0, -1, C])], {}, { name }) }; // [B, H*W, C]
  };
  const toNCHW = (tokens: Value, nhwcShape: Value) =>
    g.node('Transpose', [g.node('Reshape', [tokens, nhwcShape], {}, { name })], { perm: [0, 3, 1, 2] }, { name }); // [B, C, H, W]

  let tokens: Value;
  let nhwcShape: Value;
  if (cfg.useLinearProjection) {
    ({ tokens, nhwcShape } = toTokens(normed));
    tokens = linearLayer(g, w.pp('proj_in'), C, C)(tokens);
  } else {
    ({ tokens, nhwcShape } = toTokens(conv2d(g, w.pp('proj_in'), normed, C, C, { kernel: 1 })));
  }
  const blocks = w.pp('transformer_blocks');
  for (let i = 0; i < cfg.layers; i++) {
    tokens = basicTransformerBlock(g, blocks.pp(i), tokens, encoderHiddenStates, { dim: C, heads, dimHead, crossAttentionDim: cfg.crossAttentionDim, upcastAttention: cfg.upcastAttention }, hooks);
  }
  const out = cfg.useLinearProjection
    ? toNCHW(linearLayer(g, w.pp('proj_out'), C, C)(tokens), nhwcShape)
    : conv2d(g, w.pp('proj_out'), toNCHW(tokens, nhwcShape), C, C, { kernel: 1 });
  return g.node('Add', [out, x], {}, { name });
}
