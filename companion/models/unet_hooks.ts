// Hook points of the UNet graph builders, for the TokenFlow modes (keyframes, propagate) and
// for debug taps. Plain mode passes no hooks. Every hook is addressed by the diffusers module
// path of what it changes (e.g. `up_blocks.1.attentions.1.transformer_blocks.0.attn1`), the
// same string that names the block's weights and graph nodes.
import type { Graph, Value } from '../runtime/graph.ts';

/** What a self-attention (`attn1` of a BasicTransformerBlock) hook sees. Tensors are [B, T, C]. */
export interface SelfAttentionContext {
  readonly g: Graph;
  /** Path of the attention module, e.g. `down_blocks.0.attentions.1.transformer_blocks.0.attn1`. */
  readonly path: string;
  /** The transformer block's input hidden states, before norm1. */
  readonly hiddenStates: Value;
  /** norm1(hiddenStates): the self-attention's input (TokenFlow matches these features). */
  readonly normHiddenStates: Value;
  /** Query width (the block's channels) and the head split of the projections. */
  readonly channels: number;
  readonly heads: number;
  readonly headDim: number;
  /** to_q / to_k / to_v of normHiddenStates, [B, T, heads*headDim]; emitted on first call. */
  q(): Value;
  k(): Value;
  v(): Value;
  /** Multi-head softmax(q k^T / sqrt(headDim)) v with this block's heads: [B, Tq, heads*headDim]. */
  attend(q: Value, k: Value, v: Value): Value;
  /** to_out.0 (linear with bias): merged heads back to the block's channels. */
  out(x: Value): Value;
  /** The unmodified self-attention output, out(attend(q(), k(), v())). */
  plain(): Value;
}

/** What a ResnetBlock2D hook sees (NCHW tensors). */
export interface ResnetContext {
  readonly g: Graph;
  /** Path of the block, e.g. `up_blocks.1.resnets.1`. */
  readonly path: string;
  /** input_tensor (for up blocks: hidden states concatenated with the skip connection). */
  readonly input: Value;
  /** Time embedding as passed to the block (before its own SiLU and time_emb_proj); null without one. */
  readonly temb: Value | null;
  /** The residual branch after conv2, before the shortcut add. */
  readonly conv2Output: Value;
}

export interface UNetHooks {
  /**
   * Replaces the self-attention of a transformer block: return the attn1 output (after to_out,
   * before the residual add), or undefined to keep the plain attention. When a hook replaces
   * it without calling q/k/v, those projections are not emitted at all.
   */
  selfAttention?(ctx: SelfAttentionContext): Value | undefined;
  /** Replaces a ResnetBlock2D's residual branch (conv2 output), or undefined to keep it. */
  resnet?(ctx: ResnetContext): Value | undefined;
  /**
   * Called with every named intermediate value, by its golden name: `<attn1 path>.input` /
   * `.output`, `<resnet path>.input` / `.temb` / `.conv2.output` / `.output`,
   * `time_embedding.output`, `conv_in.output`, `down_blocks.N.output`, `mid_block.output`,
   * `up_blocks.N.output`.
   */
  tap?(name: string, value: Value, g: Graph): void;
}
