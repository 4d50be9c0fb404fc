// Layer primitives over the graph builder. Each takes the accessor scoped to the layer
// (so it only knows `weight` and `bias`) and uses the block's path to name its nodes.
// Precision follows the input: float16 activations run the layer in float16, except the
// normalisations, which cast to float32 around themselves (their reductions lose too much in
// half precision) and cast back, and attention, whose precision `attention` decides. In
// float32 graphs every cast is a no-op, so those graphs are unchanged.
// The op forms follow the graph's provider variant (providers.ts): these primitives are the
// only place that names an ONNX Runtime contrib op, so models/ never names an op domain.
import type { Graph, Value } from './graph.ts';
import { MS_DOMAIN } from './graph.ts';
import type { Weights } from './weights.ts';

/** torch.nn.Linear on the last axis: x @ W^T + b, W stored [out, in]. */
export function linear(g: Graph, w: Weights, x: Value, inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}): Value {
  return linearLayer(g, w, inFeatures, outFeatures, opts)(x);
}

/**
 * A torch.nn.Linear whose weights are fetched now (shape-checked and counted as used) and
 * whose nodes are emitted only when it is applied: a hook that replaces a layer's computation
 * leaves no dead nodes or initializers behind, and the weight-coverage check still holds.
 */
export function linearLayer(g: Graph, w: Weights, inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}): (x: Value) => Value {
  const weightRef = w.get('weight', [outFeatures, inFeatures]);
  const biasRef = opts.bias === false ? null : w.get('bias', [outFeatures]);
  return (x) => {
    // x @ W^T straight from the stored [out, in] weight: a Transpose node would be folded by
    // ORT into an anonymous-memory copy of every weight (defeating the mmap in low-memory
    // mode, and raising peak RSS in the default mode before prepacking). A float32 input in a
    // float16 graph (the timestep embedding) gets its weights cast, which ORT folds once.
    const y = projection(g, x, g.cast(g.weight(weightRef), x.type, w.path), w.path);
    return biasRef ? g.node('Add', [y, g.cast(g.weight(biasRef), x.type, w.path)], {}, { name: w.path }) : y;
  };
}

/**
 * x @ W^T for a weight value stored [out, in] (a bias is the caller's Add), in the form the
 * graph's provider runs:
 * com.microsoft FusedMatMul with transB straight on the stored weight (no transposed copy:
 * CPU, CUDA, DirectML), or MatMul on the transposed weight plus Add (WebGPU and CoreML have
 * no FusedMatMul kernel; ORT folds the Transpose once when the session loads, and the weights
 * then live on the device anyway).
 */
export function projection(g: Graph, x: Value, weight: Value, name: string): Value {
  return g.variant.linear === 'FusedMatMul'
    ? g.node('FusedMatMul', [x, weight], { transB: 1 }, { name, domain: MS_DOMAIN })
    : g.node('MatMul', [x, g.node('Transpose', [weight], { perm: [1, 0] }, { name })], {}, { name });
}

/**
 * a @ b^T for two computed [rows, C] matrices (TokenFlow's cosine similarities): Gemm with
 * transB, or, for CoreML, whose Gemm takes only a constant B, MatMul on the transposed b.
 */
export function matMulTransposed(g: Graph, a: Value, b: Value, name: string): Value {
  return g.variant.name === 'coreml'
    ? g.node('MatMul', [a, g.node('Transpose', [b], { perm: [1, 0] }, { name })], {}, { name })
    : g.node('Gemm', [a, b], { transB: 1 }, { name });
}

/** L2 norm of each row of a [rows, C] matrix, kept as [rows, 1]: ReduceL2, or for CoreML (which has no ReduceL2) sqrt of a ReduceSum of squares. */
export function rowNorm(g: Graph, x: Value, name: string): Value {
  if (g.variant.name !== 'coreml') return g.node('ReduceL2', [x], { axes: [1], keepdims: 1 }, { name });
  return g.node('Sqrt', [g.node('ReduceSum', [g.node('Mul', [x, x], {}, { name }), g.ints([1])], { keepdims: 1 }, { name })], {}, { name });
}

/**
 * torch.nn.Conv2d. A [out, in] weight is accepted for 1x1 convolutions saved as linear.
 * `pads` ([top, left, bottom, right]) overrides the symmetric `padding`, for an asymmetric
 * F.pad folded into the conv.
 */
export function conv2d(
  g: Graph, w: Weights, x: Value, inChannels: number, outChannels: number,
  opts: { kernel?: number; stride?: number; padding?: number; pads?: [number, number, number, number] } = {},
): Value {
  const k = opts.kernel ?? 3;
  const p = opts.padding ?? (k === 1 ? 0 : 1);
  const s = opts.stride ?? 1;
  let weight: Value;
  if (k === 1 && w.shapeOf('weight')?.length === 2) {
    const flat = g.weight(w.get('weight', [outChannels, inChannels]));
    weight = g.node('Reshape', [flat, g.ints([outChannels, inChannels, 1, 1])], {}, { name: w.path });
  } else {
    weight = g.weight(w.get('weight', [outChannels, inChannels, k, k]));
  }
  const bias = g.weight(w.get('bias', [outChannels]));
  return g.node('Conv', [x, weight, bias], {
    kernel_shape: [k, k], pads: opts.pads ?? [p, p, p, p], strides: [s, s],
  }, { name: w.path });
}

/**
 * torch.nn.GroupNorm on NCHW input, as Reshape + InstanceNormalization + affine:
 * the fastest form on ORT's CPU provider (GroupNormalization has no CPU kernel).
 * Computed in float32 (affine included), returned in the input's type.
 */
export function groupNorm(g: Graph, w: Weights, input: Value, channels: number, groups: number, eps: number): Value {
  const x = g.cast(input, 'float32', w.path);
  const shape = g.node('Shape', [x], {}, { name: w.path });
  const grouped = g.node('Reshape', [x, g.ints([0, groups, -1])], {}, { name: w.path }); // [N, G, C/G*H*W]
  const ones = g.constant(new Array(groups).fill(1));
  const zeros = g.constant(new Array(groups).fill(0));
  const normed = g.node('InstanceNormalization', [grouped, ones, zeros], { epsilon: eps }, { name: w.path });
  const back = g.node('Reshape', [normed, shape], {}, { name: w.path });
  const param = (name: string) => g.cast(g.weight(w.get(name, [channels])), 'float32', w.path);
  const gamma = g.node('Unsqueeze', [param('weight'), g.ints([1, 2])], {}, { name: w.path }); // [C,1,1]
  const beta = g.node('Unsqueeze', [param('bias'), g.ints([1, 2])], {}, { name: w.path });
  return g.cast(g.node('Add', [g.node('Mul', [back, gamma], {}, { name: w.path }), beta], {}, { name: w.path }), input.type, w.path);
}

/** torch.nn.LayerNorm over the last axis, computed in float32 and returned in the input's type. */
export function layerNorm(g: Graph, w: Weights, x: Value, channels: number, eps: number): Value {
  const param = (name: string) => g.cast(g.weight(w.get(name, [channels])), 'float32', w.path);
  const y = g.node('LayerNormalization', [g.cast(x, 'float32', w.path), param('weight'), param('bias')], {
    axis: -1, epsilon: eps,
  }, { name: w.path });
  return g.cast(y, x.type, w.path);
}

export function silu(g: Graph, x: Value, name?: string): Value {
  return g.node('Mul', [x, g.node('Sigmoid', [x], {}, { name })], {}, { name });
}

/** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)); ORT fuses this pattern into its Gelu kernel. */
export function gelu(g: Graph, x: Value, name?: string): Value {
  const erf = g.node('Erf', [g.node('Div', [x, g.scalar(Math.SQRT2, x.type)], {}, { name })], {}, { name });
  const onePlus = g.node('Add', [erf, g.scalar(1, x.type)], {}, { name });
  return g.node('Mul', [g.node('Mul', [x, onePlus], {}, { name }), g.scalar(0.5, x.type)], {}, { name });
}

/** CLIP's quick_gelu: x * sigmoid(1.702 x). */
export function quickGelu(g: Graph, x: Value, name?: string): Value {
  return g.node('Mul', [x, g.node('Sigmoid', [g.node('Mul', [x, g.scalar(1.702, x.type)], {}, { name })], {}, { name })], {}, { name });
}

export interface AttentionOptions {
  heads: number;
  /** Channels of q (= heads * head size). */
  channels: number;
  /** Additive bias broadcast to [B, heads, Tq, Tk] (e.g. CLIP's causal mask). */
  bias?: Value;
  /** Compute in float32 even in a float16 graph (the model's upcast_attention). */
  float32?: boolean;
  name?: string;
}

/**
 * Scaled dot-product attention on [B, T, C] tensors with `heads` heads, softmax(q k^T / sqrt(d)) v.
 * Emitted as com.microsoft.MultiHeadAttention where the provider has it (on CPU about 1.6x
 * faster than the plain form, without the full score tensor per head in RAM), else as
 * explicit MatMul-Softmax-MatMul (CoreML; WebGPU in float32, see providers.ts).
 *
 * Precision: MultiHeadAttention has one type for q/k/v, scores and output. In float16 graphs
 * it runs in float16 where the provider has fused 16-bit kernels (CUDA flash and
 * memory-efficient attention accumulate the softmax in float32; WebGPU's flash attention),
 * and in float32 on the CPU (which computes float16 in float32 anyway) and wherever the
 * model asks (`float32`: SD 2.x's upcast_attention, whose q k^T overflows float16 in ORT's
 * unfused CUDA fallback). Float32 attention in a float16 graph pays a cast of q, k, v and of
 * the result.
 */
export function attention(g: Graph, q: Value, k: Value, v: Value, opts: AttentionOptions): Value {
  const type = opts.float32 || !g.variant.halfAttention ? 'float32' : q.type;
  const to = (x: Value) => g.cast(x, type, opts.name);
  const form = type === 'float32' ? g.variant.float32Attention : g.variant.attention;
  const out = form === 'MultiHeadAttention'
    ? g.node('MultiHeadAttention', opts.bias ? [to(q), to(k), to(v), null, null, to(opts.bias)] : [to(q), to(k), to(v)], { num_heads: opts.heads }, { name: opts.name, domain: MS_DOMAIN })
    : explicitAttention(g, to(q), to(k), to(v), opts.bias ? to(opts.bias) : undefined, opts);
  return g.cast(out, q.type, opts.name);
}

/** softmax(q k^T / sqrt(d) + bias) v per head, as MatMul-Softmax-MatMul on [B, heads, T, d]. */
function explicitAttention(g: Graph, q: Value, k: Value, v: Value, bias: Value | undefined, opts: AttentionOptions): Value {
  const { heads, channels, name } = opts;
  const d = channels / heads;
  const perHead = (x: Value, perm: number[]) =>
    g.node('Transpose', [g.node('Reshape', [x, g.ints([0, 0, heads, d])], {}, { name })], { perm }, { name });
  const qh = g.node('Mul', [perHead(q, [0, 2, 1, 3]), g.scalar(1 / Math.sqrt(d), q.type)], {}, { name }); // [B, H, Tq, d]
  let scores = g.node('MatMul', [qh, perHead(k, [0, 2, 3, 1])], {}, { name }); // [B, H, Tq, Tk]
  if (bias) scores = g.node('Add', [scores, bias], {}, { name });
  const probs = g.node('Softmax', [scores], { axis: -1 }, { name });
  const out = g.node('MatMul', [probs, perHead(v, [0, 2, 1, 3])], {}, { name }); // [B, H, Tq, d]
  return g.node('Reshape', [g.node('Transpose', [out], { perm: [0, 2, 1, 3] }, { name }), g.ints([0, 0, channels])], {}, { name });
}
