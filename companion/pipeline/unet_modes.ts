// TokenFlow's UNet modes (keyframe pass, propagate pass, plug-and-play injection) as ONE ONNX graph built
// from the plain UNet through its hooks. Batches are branch-major, [src..., unc..., cnd...].
// The bool input `propagate` selects the mode; each transformer block's self-attention is an
// If node whose branches hold the two modes, so one session (one copy of the weights, one
// memory arena) serves both passes of every step, and a pass evaluates only its own branch.
//
// keyframes (propagate = false): K keyframes of each branch. Self-attention is extended across
//   the keyframes for unc and cnd (each keyframe's queries attend to the keys/values of all K
//   keyframes of the same branch), per frame for src; in the 8 decoder blocks q and k of
//   unc/cnd are replaced by src's while `inject_qk` is set.
// propagate (propagate = true): one batch of frames. attn1 is not evaluated: its output is
//   gathered from the current and previous keyframes' A by cosine nearest neighbours of the src
//   norm1 features against their P_src, blended with the per-frame weights `blend_weights`.
// Both: the conv2 output of up_blocks.1.resnets.1 for unc/cnd := src's while `inject_conv` is
//   set. Outputs per block: the src norm1 output P_src and the attn1 output A of the keyframes
//   [record_range[0], record_range[1]) (an empty range in propagate calls).
// In a float16 graph the records are output, and the keyframe inputs fed, as float32; the
// nearest-neighbour search and the blend run in float32 (an argmax over cosines decided in
// half precision would flip near-ties far more often), the blend is then cast to float16.
import { buildUNetGraph, type UNetConfig } from '../models/unet_2d_condition.ts';
import type { ResnetContext, SelfAttentionContext, UNetHooks } from '../models/unet_hooks.ts';
import type { BranchOutput, Graph, GraphDType, Value } from '../runtime/graph.ts';
import { matMulTransposed, rowNorm } from '../runtime/nn.ts';
import type { Provider } from '../runtime/providers.ts';

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
  /** bool [1]: true for a propagate pass, false for a keyframe pass. */
  propagate: 'propagate',
  /** bool [1]: q/k injection on (keyframe passes). */
  injectQk: 'inject_qk',
  /** bool [1]: conv injection on (both passes). */
  injectConv: 'inject_conv',
  /** int64 [2]: keyframes [from, to) of this call whose records are output. */
  recordRange: 'record_range',
  /** float32 [B]: weight of the current keyframe per frame of the batch (propagate passes). */
  blendWeights: 'blend_weights',
} as const;

/** Record outputs of a block: P_src [R, T, D] and A [R, 3, T, D] (keyframe-major). */
export function recordOutputNames(block: string): { pSrc: string; attn: string } {
  return { pSrc: `P_src.${block}`, attn: `A.${block}` };
}

/** Propagate inputs of a block: the current and previous keyframe's P_src [T, D] and A [3, T, D]. */
export function keyframeInputNames(block: string): { curP: string; curA: string; prevP: string; prevA: string } {
  return { curP: `kf_cur.${block}.P_src`, curA: `kf_cur.${block}.A`, prevP: `kf_prev.${block}.P_src`, prevA: `kf_prev.${block}.A` };
}

/**
 * Debug outputs of a block in propagate passes (golden names without the `b<i>.` prefix): the
 * src norm1 output query [B, T, D], nearest-neighbour indices nn_cur / nn_prev [B, T] (int64),
 * and the propagated attention attn [3, B, T, D]. Empty in keyframe passes.
 */
export function debugOutputNames(block: string): { query: string; nnCur: string; nnPrev: string; attn: string } {
  return { query: `${block}.query`, nnCur: `${block}.nn_cur`, nnPrev: `${block}.nn_prev`, attn: `${block}.attn` };
}

export interface TokenFlowGraph {
  graph: Graph;
  config: UNetConfig;
  /** Transformer block paths (e.g. `down_blocks.0.attentions.0.transformer_blocks.0`), execution order. */
  blocks: string[];
  /** Channels D of each block, in `blocks` order. */
  channels: number[];
}

export interface TokenFlowGraphOptions {
  /** Also output query / nn_cur / nn_prev / attn per block. */
  debug?: boolean;
  conversionCacheDir?: string;
  /** The UNet's precision (buildUNetGraph); every mode input and output stays float32. */
  dtype?: GraphDType;
  provider?: Provider;
}

export function buildTokenFlowGraph(modelDir: string, options: TokenFlowGraphOptions = {}): TokenFlowGraph {
  const modes = new ModeHooks(options.debug ?? false);
  const { graph, config } = buildUNetGraph(modelDir, { hooks: modes.hooks, conversionCacheDir: options.conversionCacheDir, dtype: options.dtype, provider: options.provider });
  if (!modes.convInjected) {
    throw new Error(`${modelDir}/unet: the UNet has no ${CONV_INJECTION_MODULE} (TokenFlow needs the Stable Diffusion block layout)`);
  }
  if (!modes.blocks.length) throw new Error(`${modelDir}/unet: the UNet has no transformer blocks to propagate`);
  return { graph, config, blocks: modes.blocks, channels: modes.channels };
}

/** Shape values of a block's [3m, T, C] hidden states. */
interface TokenShapes {
  /** [3m, T, C] */
  full: Value;
  /** [T] */
  tokens: Value;
  /** [T, C] */
  tokenShape: Value;
  /** [-1, T, C]: per-frame layout. */
  perFrame: Value;
  /** [3, -1, T, C]: branch-major layout. */
  perBranch: Value;
}

/** The hooks; graph inputs are declared on first use. */
class ModeHooks {
  readonly blocks: string[] = [];
  readonly channels: number[] = [];
  convInjected = false;
  private readonly inputs = new Map<string, Value>();

  constructor(private readonly debug: boolean) {}

  get hooks(): UNetHooks {
    return {
      selfAttention: (ctx) => this.selfAttention(ctx),
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

  private selfAttention(ctx: SelfAttentionContext): Value {
    const { g, path: name } = ctx;
    const block = blockOf(ctx.path);
    this.blocks.push(block);
    this.channels.push(ctx.channels);
    const index = this.blocks.length - 1;
    checkedWidth(ctx);
    const shapes = tokenShapes(g, ctx.normHiddenStates, name);
    const propagate = this.input(g, MODE_INPUTS.propagate, 'bool', [1]);
    // In keyframe passes the debug outputs are empty tensors of the same types.
    const emptyDebug = (): BranchOutput[] => (this.debug
      ? [{ value: g.constant([], 'int64', [0]), type: 'int64' }, { value: g.constant([], 'int64', [0]), type: 'int64' }, { value: g.constant([], 'float32', [0]), type: 'float32' }]
      : []);
    const outs = g.op('If', [propagate], {
      then_branch: g.subgraph(`${block}/propagate`, () => this.propagatedAttention(ctx, block, index, shapes)),
      else_branch: g.subgraph(`${block}/keyframes`, () => [{ value: this.extendedAttention(ctx, block, shapes), type: ctx.hiddenStates.type }, ...emptyDebug()]),
    }, { name, outputs: this.debug ? 4 : 1 });
    const out = outs[0]!;
    this.records(ctx, out, block, index, shapes);
    if (this.debug) {
      const names = debugOutputNames(block);
      const src = g.node('Slice', [g.node('Reshape', [ctx.normHiddenStates, shapes.perBranch], {}, { name }), g.ints([0]), g.ints([1]), g.ints([0])], {}, { name });
      g.output(g.node('Squeeze', [src, g.ints([0])], {}, { name }), names.query, 'float32', ['frames', `T${index}`, ctx.channels]);
      g.output(outs[1]!, names.nnCur, 'int64');
      g.output(outs[2]!, names.nnPrev, 'int64');
      g.output(outs[3]!, names.attn, 'float32');
    }
    return out;
  }

  /** Extended self-attention across the keyframes of each edit branch, per frame for src; q/k injection. */
  private extendedAttention(ctx: SelfAttentionContext, block: string, s: TokenShapes): Value {
    const { g, path: name, channels: C } = ctx;
    // [3, K*T, C]: each branch's keyframes as one token sequence (the extended attention's keys).
    const byBranch = (x: Value) => g.node('Reshape', [x, g.ints([3, -1, C])], {}, { name });
    const branches = (x: Value, from: number, to: number) => g.node('Slice', [x, g.ints([from]), g.ints([to]), g.ints([0])], {}, { name });
    const q3 = byBranch(ctx.q());
    const k3 = byBranch(ctx.k());
    const v3 = byBranch(ctx.v());
    const frames = (x: Value) => g.node('Reshape', [branches(x, 0, 1), s.perFrame], {}, { name }); // [K, T, C]
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
    const merged = g.node('Reshape', [g.node('Concat', [srcSeq, edit], { axis: 0 }, { name }), s.perFrame], {}, { name }); // [3K, T, C]
    return ctx.out(merged);
  }

  /** attn1's output gathered from the keyframes' A at the nearest src features, blended. */
  private propagatedAttention(ctx: SelfAttentionContext, block: string, index: number, s: TokenShapes): BranchOutput[] {
    const { g, path: name, channels: C } = ctx;
    const T = `T${index}`;
    const kf = keyframeInputNames(block);
    const curP = this.input(g, kf.curP, 'float32', [T, C]);
    const curA = this.input(g, kf.curA, 'float32', [3, T, C]);
    const prevP = this.input(g, kf.prevP, 'float32', [T, C]);
    const prevA = this.input(g, kf.prevA, 'float32', [3, T, C]);
    const weights = this.input(g, MODE_INPUTS.blendWeights, 'float32', ['frames']);

    const byBranch = g.node('Reshape', [ctx.normHiddenStates, g.ints([3, -1, C])], {}, { name }); // [3, B*T, C]
    const srcSeq = g.node('Slice', [byBranch, g.ints([0]), g.ints([1]), g.ints([0])], {}, { name });
    const query = g.cast(g.node('Reshape', [srcSeq, g.ints([-1, C])], {}, { name }), 'float32', name); // [B*T, C]
    // Rows over their L2 norm, no epsilon (the reference's x / x.norm(dim=-1)).
    const unit = (x: Value) => g.node('Div', [x, rowNorm(g, x, name)], {}, { name });
    const q = unit(query);
    // Cosine similarity [B*T, T] and the best keyframe token per row (ties: first index).
    const nearest = (p: Value) => g.node('ArgMax', [matMulTransposed(g, q, unit(p), name)], { axis: 1, keepdims: 0 }, { name });
    const idxCur = nearest(curP);
    const idxPrev = nearest(prevP);
    const gathered = (a: Value, idx: Value) => g.node('Gather', [a, idx], { axis: 1 }, { name }); // [3, B*T, C]
    // Per-row weights [1, B*T, 1]: frame f's weight on each of its T tokens.
    const w = g.node('Reshape', [
      g.node('Expand', [g.node('Unsqueeze', [weights, g.ints([1])], {}, { name }), g.node('Concat', [g.ints([1]), s.tokens], { axis: 0 }, { name })], {}, { name }),
      g.ints([1, -1, 1]),
    ], {}, { name });
    const oneMinus = g.node('Sub', [g.scalar(1), w], {}, { name });
    const blended = g.node('Add', [
      g.node('Mul', [w, gathered(curA, idxCur)], {}, { name }),
      g.node('Mul', [oneMinus, gathered(prevA, idxPrev)], {}, { name }),
    ], {}, { name }); // [3, B*T, C]
    const type = ctx.hiddenStates.type;
    const out: BranchOutput[] = [{ value: g.cast(g.node('Reshape', [blended, s.full], {}, { name }), type, name), type }]; // [3B, T, C]
    if (this.debug) {
      const perFrameIdx = g.node('Concat', [g.ints([-1]), s.tokens], { axis: 0 }, { name });
      out.push(
        { value: g.node('Reshape', [idxCur, perFrameIdx], {}, { name }), type: 'int64' },
        { value: g.node('Reshape', [idxPrev, perFrameIdx], {}, { name }), type: 'int64' },
        { value: g.node('Reshape', [blended, s.perBranch], {}, { name }), type: 'float32' },
      );
    }
    return out;
  }

  /** P_src [R, T, C] (src norm1 output) and A [R, 3, T, C] of the keyframes in record_range. */
  private records(ctx: SelfAttentionContext, attn: Value, block: string, index: number, s: TokenShapes): void {
    const { g, path: name, channels: C } = ctx;
    const range = this.input(g, MODE_INPUTS.recordRange, 'int64', [2]);
    const from = g.node('Slice', [range, g.ints([0]), g.ints([1])], {}, { name });
    const to = g.node('Slice', [range, g.ints([1]), g.ints([2])], {}, { name });
    const starts = g.node('Concat', [g.ints([0]), from], { axis: 0 }, { name });
    const ends = g.node('Concat', [g.ints([1]), to], { axis: 0 }, { name });
    const pSrc = g.node('Squeeze', [
      g.node('Slice', [g.node('Reshape', [ctx.normHiddenStates, s.perBranch], {}, { name }), starts, ends, g.ints([0, 1])], {}, { name }),
      g.ints([0]),
    ], {}, { name });
    const a = g.node('Transpose', [
      g.node('Slice', [g.node('Reshape', [attn, s.perBranch], {}, { name }), from, to, g.ints([1])], {}, { name }),
    ], { perm: [1, 0, 2, 3] }, { name });
    const names = recordOutputNames(block);
    g.output(pSrc, names.pSrc, 'float32', ['records', `T${index}`, C]);
    g.output(a, names.attn, 'float32', ['records', 3, `T${index}`, C]);
  }

  /** unc/cnd residual branch := src's at the injection ResNet, while `inject_conv` is set. */
  private convInjection(ctx: ResnetContext): Value | undefined {
    if (ctx.path !== CONV_INJECTION_MODULE) return undefined;
    this.convInjected = true;
    const { g, path: name } = ctx;
    const on = this.input(g, MODE_INPUTS.injectConv, 'bool', [1]);
    const byBranch = g.node('Reshape', [ctx.conv2Output, g.ints([3, -1])], {}, { name }); // [3, m*C*H*W]
    const src = g.node('Slice', [byBranch, g.ints([0]), g.ints([1]), g.ints([0])], {}, { name });
    const injected = g.node('Where', [on, src, byBranch], {}, { name });
    return g.node('Reshape', [injected, g.node('Shape', [ctx.conv2Output], {}, { name })], {}, { name });
  }
}

function tokenShapes(g: Graph, x: Value, name: string): TokenShapes {
  // Shape's start/end attributes rather than Slice(Shape): ORT would fuse the Slice into the
  // Shape and then warn that it cannot rename the value inside the If branches reading it.
  const full = g.node('Shape', [x], {}, { name }); // [3m, T, C]
  const tokenShape = g.node('Shape', [x], { start: 1 }, { name });
  return {
    full,
    tokens: g.node('Shape', [x], { start: 1, end: 2 }, { name }),
    tokenShape,
    perFrame: g.node('Concat', [g.ints([-1]), tokenShape], { axis: 0 }, { name }),
    perBranch: g.node('Concat', [g.ints([3, -1]), tokenShape], { axis: 0 }, { name }),
  };
}

/** `...transformer_blocks.0.attn1` -> `...transformer_blocks.0`. */
function blockOf(attnPath: string): string {
  if (!attnPath.endsWith('.attn1')) throw new Error(`unexpected self-attention path ${attnPath}`);
  return attnPath.slice(0, -'.attn1'.length);
}

/** The modes split q/k/v by the block's width; SD's self-attention keeps heads * headDim = channels. */
function checkedWidth(ctx: SelfAttentionContext): void {
  if (ctx.heads * ctx.headDim !== ctx.channels) {
    throw new Error(`${ctx.path}: ${ctx.heads} heads x ${ctx.headDim} != ${ctx.channels} channels; TokenFlow modes need inner width = channels`);
  }
}
