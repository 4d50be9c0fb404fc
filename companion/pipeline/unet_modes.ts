// TokenFlow's two UNet modes as ONNX graphs, built from the plain UNet through its hooks
// (tokenflow-algorithm.md sections 5, 6 and 14). Batches are branch-major, [src..., unc..., cnd...].
//
// "keyframes": K keyframes of each branch. Self-attention is extended across the keyframes
//   for unc and cnd (each keyframe's queries attend to the keys/values of all K keyframes of
//   the same branch), per frame for src; in the 8 decoder blocks q and k of unc/cnd are
//   replaced by src's while `inject_qk` is set. Outputs per transformer block: the src norm1
//   output and the attn1 output of all branches, for keyframes [record_range[0], record_range[1]).
// "propagate": one batch of frames. attn1 is never evaluated: its output is gathered from the
//   current and previous keyframes' A by cosine nearest neighbours of the src norm1 features
//   against their P_src, and blended with the per-frame weights `blend_weights`.
// Both: conv2 output of up_blocks.1.resnets.1 for unc/cnd := src's while `inject_conv` is set.
// The switches are graph inputs, so one session per mode serves every step of the schedule.
import { buildUNetGraph, type UNetConfig } from '../models/unet_2d_condition.ts';
import type { ResnetContext, SelfAttentionContext, UNetHooks } from '../models/unet_hooks.ts';
import type { Graph, Value } from '../runtime/graph.ts';

export type UNetMode = 'keyframes' | 'propagate';

/** The ResNet whose residual branch is injected (second ResNet of the first cross-attention up block). */
export const CONV_INJECTION_MODULE = 'up_blocks.1.resnets.1';

/**
 * PnP q/k injection blocks: every decoder transformer block except the first at the lowest
 * cross-attention level — up_blocks.1.attentions.1/2, up_blocks.2.*, up_blocks.3.* (first
 * transformer block of each, as the reference registers them).
 */
export function isQkInjectionBlock(block: string): boolean {
  return /^up_blocks\.(1\.attentions\.[12]|[23]\.attentions\.\d+)\.transformer_blocks\.0$/.test(block);
}

/** Graph inputs besides the UNet's sample / timestep / encoder_hidden_states. */
export const MODE_INPUTS = {
  /** bool [1]: q/k injection on (keyframes mode). */
  injectQk: 'inject_qk',
  /** bool [1]: conv injection on (both modes). */
  injectConv: 'inject_conv',
  /** int64 [2]: keyframes [from, to) of this call whose records are output (keyframes mode). */
  recordRange: 'record_range',
  /** float32 [B]: weight of the current keyframe per frame of the batch (propagate mode). */
  blendWeights: 'blend_weights',
} as const;

/** Keyframes-mode outputs of a block: P_src [R, T, D] and A [R, 3, T, D] (keyframe-major). */
export function recordOutputNames(block: string): { pSrc: string; attn: string } {
  return { pSrc: `P_src.${block}`, attn: `A.${block}` };
}

/** Propagate-mode inputs of a block: the current and previous keyframe's P_src [T, D] and A [3, T, D]. */
export function keyframeInputNames(block: string): { curP: string; curA: string; prevP: string; prevA: string } {
  return { curP: `kf_cur.${block}.P_src`, curA: `kf_cur.${block}.A`, prevP: `kf_prev.${block}.P_src`, prevA: `kf_prev.${block}.A` };
}

/**
 * Propagate-mode debug outputs of a block (golden names without the `b<i>.` prefix): the src
 * norm1 output query [B, T, D], nearest-neighbour indices nn_cur / nn_prev [B, T] (int64),
 * and the propagated attention attn [3, B, T, D].
 */
export function debugOutputNames(block: string): { query: string; nnCur: string; nnPrev: string; attn: string } {
  return { query: `${block}.query`, nnCur: `${block}.nn_cur`, nnPrev: `${block}.nn_prev`, attn: `${block}.attn` };
}

export interface ModeGraph {
  graph: Graph;
  config: UNetConfig;
  mode: UNetMode;
  /** Transformer block paths (e.g. `down_blocks.0.attentions.0.transformer_blocks.0`), execution order. */
  blocks: string[];
}

export interface ModeGraphOptions {
  /** Propagate mode: also output query / nn_cur / nn_prev / attn per block. */
  debug?: boolean;
  conversionCacheDir?: string;
}

export function buildModeGraph(modelDir: string, mode: UNetMode, options: ModeGraphOptions = {}): ModeGraph {
  const modeHooks = new ModeHooks(mode, options.debug ?? false);
  const { graph, config } = buildUNetGraph(modelDir, { hooks: modeHooks.hooks, conversionCacheDir: options.conversionCacheDir });
  if (!modeHooks.convInjected) {
    throw new Error(`${modelDir}/unet: the UNet has no ${CONV_INJECTION_MODULE} (TokenFlow needs the Stable Diffusion block layout)`);
  }
  if (!modeHooks.blocks.length) throw new Error(`${modelDir}/unet: the UNet has no transformer blocks to propagate`);
  return { graph, config, mode, blocks: modeHooks.blocks };
}

/** The hooks of one mode; graph inputs are declared on first use. */
class ModeHooks {
  readonly blocks: string[] = [];
  convInjected = false;
  private readonly inputs = new Map<string, Value>();

  constructor(private readonly mode: UNetMode, private readonly debug: boolean) {}

  get hooks(): UNetHooks {
    return {
      selfAttention: (ctx) => {
        const block = blockOf(ctx.path);
        this.blocks.push(block);
        const index = this.blocks.length - 1;
        return this.mode === 'keyframes' ? this.keyframeAttention(ctx, block, index) : this.propagatedAttention(ctx, block, index);
      },
      resnet: (ctx) => this.convInjection(ctx),
    };
  }

  private input(g: Graph, name: string, type: 'float32' | 'int64' | 'bool', shape: (number | string)[]): Value {
    let v = this.inputs.get(name);
    if (!v) {
      v = g.input(name, type, shape);
      this.inputs.set(name, v);
    }
    return v;
  }

  /** Extended self-attention with q/k injection; records P_src and A. */
  private keyframeAttention(ctx: SelfAttentionContext, block: string, index: number): Value {
    const { g, path: name } = ctx;
    const C = checkedWidth(ctx);
    const shape = g.node('Shape', [ctx.normHiddenStates], {}, { name }); // [3K, T, C]
    const tokenShape = g.node('Slice', [shape, g.ints([1]), g.ints([3])], {}, { name }); // [T, C]
    const perFrame = g.node('Concat', [g.ints([-1]), tokenShape], { axis: 0 }, { name }); // [-1, T, C]
    // [3, K*T, C]: each branch's keyframes as one token sequence (the extended attention's keys).
    const byBranch = (x: Value) => g.node('Reshape', [x, g.ints([3, -1, C])], {}, { name });
    const branches = (x: Value, from: number, to: number) => g.node('Slice', [x, g.ints([from]), g.ints([to]), g.ints([0])], {}, { name });
    const q3 = byBranch(ctx.q());
    const k3 = byBranch(ctx.k());
    const v3 = byBranch(ctx.v());
    const frames = (x: Value) => g.node('Reshape', [branches(x, 0, 1), perFrame], {}, { name }); // [K, T, C]
    const src = ctx.attend(frames(q3), frames(k3), frames(v3)); // per frame: [K, T, C]
    let qEdit = branches(q3, 1, 3); // [2, K*T, C]: unc, cnd
    let kEdit = branches(k3, 1, 3);
    if (isQkInjectionBlock(block)) {
      const on = this.input(g, MODE_INPUTS.injectQk, 'bool', [1]);
      qEdit = g.node('Where', [on, branches(q3, 0, 1), qEdit], {}, { name });
      kEdit = g.node('Where', [on, branches(k3, 0, 1), kEdit], {}, { name });
    }
    const edit = ctx.attend(qEdit, kEdit, branches(v3, 1, 3)); // [2, K*T, C]
    const srcSeq = g.node('Reshape', [src, g.ints([1, -1, C])], {}, { name });
    const merged = g.node('Reshape', [g.node('Concat', [srcSeq, edit], { axis: 0 }, { name }), perFrame], {}, { name }); // [3K, T, C]
    const out = ctx.out(merged);

    const range = this.input(g, MODE_INPUTS.recordRange, 'int64', [2]);
    const from = g.node('Slice', [range, g.ints([0]), g.ints([1])], {}, { name });
    const to = g.node('Slice', [range, g.ints([1]), g.ints([2])], {}, { name });
    const perBranch = g.node('Concat', [g.ints([3, -1]), tokenShape], { axis: 0 }, { name }); // [3, K, T, C]
    const starts = g.node('Concat', [g.ints([0]), from], { axis: 0 }, { name });
    const ends = g.node('Concat', [g.ints([1]), to], { axis: 0 }, { name });
    const pSrc = g.node('Squeeze', [
      g.node('Slice', [g.node('Reshape', [ctx.normHiddenStates, perBranch], {}, { name }), starts, ends, g.ints([0, 1])], {}, { name }),
      g.ints([0]),
    ], {}, { name }); // [R, T, C]
    const attn = g.node('Transpose', [
      g.node('Slice', [g.node('Reshape', [out, perBranch], {}, { name }), from, to, g.ints([1])], {}, { name }),
    ], { perm: [1, 0, 2, 3] }, { name }); // [R, 3, T, C]
    const names = recordOutputNames(block);
    g.output(pSrc, names.pSrc, 'float32', ['records', `T${index}`, C]);
    g.output(attn, names.attn, 'float32', ['records', 3, `T${index}`, C]);
    return out;
  }

  /** attn1 replaced by the keyframes' attention outputs at the nearest src features. */
  private propagatedAttention(ctx: SelfAttentionContext, block: string, index: number): Value {
    const { g, path: name } = ctx;
    const C = checkedWidth(ctx);
    const T = `T${index}`;
    const kf = keyframeInputNames(block);
    const curP = this.input(g, kf.curP, 'float32', [T, C]);
    const curA = this.input(g, kf.curA, 'float32', [3, T, C]);
    const prevP = this.input(g, kf.prevP, 'float32', [T, C]);
    const prevA = this.input(g, kf.prevA, 'float32', [3, T, C]);
    const weights = this.input(g, MODE_INPUTS.blendWeights, 'float32', ['frames']);

    const shape = g.node('Shape', [ctx.normHiddenStates], {}, { name }); // [3B, T, C]
    const byBranch = g.node('Reshape', [ctx.normHiddenStates, g.ints([3, -1, C])], {}, { name }); // [3, B*T, C]
    const srcSeq = g.node('Slice', [byBranch, g.ints([0]), g.ints([1]), g.ints([0])], {}, { name });
    const query = g.node('Reshape', [srcSeq, g.ints([-1, C])], {}, { name }); // [B*T, C]
    // Rows over their L2 norm, no epsilon (the reference's x / x.norm(dim=-1)).
    const unit = (x: Value) => g.node('Div', [x, g.node('ReduceL2', [x], { axes: [1], keepdims: 1 }, { name })], {}, { name });
    const q = unit(query);
    // Cosine similarity [B*T, T] and the best keyframe token per row (ties: first index).
    const nearest = (p: Value) => g.node('ArgMax', [g.node('Gemm', [q, unit(p)], { transB: 1 }, { name })], { axis: 1, keepdims: 0 }, { name });
    const idxCur = nearest(curP);
    const idxPrev = nearest(prevP);
    const gathered = (a: Value, idx: Value) => g.node('Gather', [a, idx], { axis: 1 }, { name }); // [3, B*T, C]
    const tokens = g.node('Slice', [shape, g.ints([1]), g.ints([2])], {}, { name }); // [T]
    // Per-row weights [1, B*T, 1]: frame f's weight on each of its T tokens.
    const w = g.node('Reshape', [
      g.node('Expand', [g.node('Unsqueeze', [weights, g.ints([1])], {}, { name }), g.node('Concat', [g.ints([1]), tokens], { axis: 0 }, { name })], {}, { name }),
      g.ints([1, -1, 1]),
    ], {}, { name });
    const oneMinus = g.node('Sub', [g.scalar(1), w], {}, { name });
    const blended = g.node('Add', [
      g.node('Mul', [w, gathered(curA, idxCur)], {}, { name }),
      g.node('Mul', [oneMinus, gathered(prevA, idxPrev)], {}, { name }),
    ], {}, { name }); // [3, B*T, C]

    if (this.debug) {
      const tokenShape = g.node('Slice', [shape, g.ints([1]), g.ints([3])], {}, { name });
      const perFrame = g.node('Concat', [g.ints([-1]), tokenShape], { axis: 0 }, { name });
      const perFrameIdx = g.node('Concat', [g.ints([-1]), tokens], { axis: 0 }, { name });
      const names = debugOutputNames(block);
      g.output(g.node('Reshape', [query, perFrame], {}, { name }), names.query, 'float32', ['frames', T, C]);
      g.output(g.node('Reshape', [idxCur, perFrameIdx], {}, { name }), names.nnCur, 'int64', ['frames', T]);
      g.output(g.node('Reshape', [idxPrev, perFrameIdx], {}, { name }), names.nnPrev, 'int64', ['frames', T]);
      const perBranch = g.node('Concat', [g.ints([3, -1]), tokenShape], { axis: 0 }, { name });
      g.output(g.node('Reshape', [blended, perBranch], {}, { name }), names.attn, 'float32', [3, 'frames', T, C]);
    }
    return g.node('Reshape', [blended, shape], {}, { name }); // [3B, T, C]
  }

  /** unc/cnd residual branch := src's at the injection ResNet, while `inject_conv` is set. */
  private convInjection(ctx: ResnetContext): Value | undefined {
    if (ctx.path !== CONV_INJECTION_MODULE) return undefined;
    this.convInjected = true;
    const { g, path: name } = ctx;
    const on = this.input(g, MODE_INPUTS.injectConv, 'bool', [1]);
    const byBranch = g.node('Reshape', [ctx.conv2Output, g.ints([3, -1])], {}, { name }); // [3, K*C*H*W]
    const src = g.node('Slice', [byBranch, g.ints([0]), g.ints([1]), g.ints([0])], {}, { name });
    const injected = g.node('Where', [on, src, byBranch], {}, { name });
    return g.node('Reshape', [injected, g.node('Shape', [ctx.conv2Output], {}, { name })], {}, { name });
  }
}

/** `...transformer_blocks.0.attn1` -> `...transformer_blocks.0`. */
function blockOf(attnPath: string): string {
  if (!attnPath.endsWith('.attn1')) throw new Error(`unexpected self-attention path ${attnPath}`);
  return attnPath.slice(0, -'.attn1'.length);
}

/** The modes split q/k/v by the block's width; SD's self-attention keeps heads * headDim = channels. */
function checkedWidth(ctx: SelfAttentionContext): number {
  if (ctx.heads * ctx.headDim !== ctx.channels) {
    throw new Error(`${ctx.path}: ${ctx.heads} heads x ${ctx.headDim} != ${ctx.channels} channels; TokenFlow modes need inner width = channels`);
  }
  return ctx.channels;
}
