// transformers CLIPTextModel (modeling_clip.py): token + position embeddings, pre-LN
// transformer layers with causal self-attention, final LayerNorm. Stable Diffusion calls it
// with input_ids only (no padding mask), and uses `last_hidden_state`.
import { Graph, type GraphDType, type Value } from '../runtime/graph.ts';
import { graphVariant, type Provider } from '../runtime/providers.ts';
import { attention, gelu, layerNorm, linear, quickGelu } from '../runtime/nn.ts';
import type { Weights } from '../runtime/weights.ts';
import { clipTextConfigSchema, readConfig, type ClipTextConfig } from './config.ts';
import { openComponentWeights } from './folder.ts';

export interface ClipTextOutputs {
  lastHiddenState: Value;
  /** hidden_states.0 (embeddings) .. hidden_states.N (each layer's output), for parity taps. */
  hiddenStates: Value[];
}

/** Builds the text encoder on `inputIds` [B, 77] (int64). `w` is the checkpoint root. */
export function clipTextModel(g: Graph, w: Weights, inputIds: Value, config: ClipTextConfig): ClipTextOutputs {
  const tm = w.pp('text_model');
  const seqLen = config.max_position_embeddings;
  const D = config.hidden_size;
  let h = clipEmbeddings(g, tm.pp('embeddings'), inputIds, config);
  const hiddenStates = [h];
  const mask = causalMask(g, seqLen);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    h = clipEncoderLayer(g, tm.pp('encoder').pp('layers').pp(i), h, mask, config);
    hiddenStates.push(h);
  }
  const lastHiddenState = layerNorm(g, tm.pp('final_layer_norm'), h, D, config.layer_norm_eps);
  return { lastHiddenState, hiddenStates };
}

function clipEmbeddings(g: Graph, w: Weights, inputIds: Value, config: ClipTextConfig): Value {
  const D = config.hidden_size;
  const tokens = g.node('Gather', [g.weight(w.pp('token_embedding').get('weight', [config.vocab_size, D])), inputIds], { axis: 0 }, { name: w.path }); // [B, T, D]
  const positions = g.weight(w.pp('position_embedding').get('weight', [config.max_position_embeddings, D])); // [T, D]
  return g.node('Add', [tokens, positions], {}, { name: w.path });
}

/** Additive mask [1, 1, T, T]: 0 on and below the diagonal, float32 min above (as transformers). */
function causalMask(g: Graph, T: number): Value {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -3.4028234663852886e38;
  return g.constant(m, 'float32', [1, 1, T, T]);
}

function clipEncoderLayer(g: Graph, w: Weights, x: Value, mask: Value, config: ClipTextConfig): Value {
  const D = config.hidden_size;
  const eps = config.layer_norm_eps;
  const attn = w.pp('self_attn');
  const n1 = layerNorm(g, w.pp('layer_norm1'), x, D, eps);
  const q = linear(g, attn.pp('q_proj'), n1, D, D);
  const k = linear(g, attn.pp('k_proj'), n1, D, D);
  const v = linear(g, attn.pp('v_proj'), n1, D, D);
  // float32: the causal mask holds float32's minimum (float16 -inf), and the text encoder
  // runs once per prompt, so its attention's speed does not matter.
  const a = attention(g, q, k, v, { heads: config.num_attention_heads, channels: D, bias: mask, float32: true, name: attn.path });
  const h = g.node('Add', [x, linear(g, attn.pp('out_proj'), a, D, D)], {}, { name: w.path });
  const n2 = layerNorm(g, w.pp('layer_norm2'), h, D, eps);
  const mlp = w.pp('mlp');
  const f1 = linear(g, mlp.pp('fc1'), n2, D, config.intermediate_size);
  const act = config.hidden_act === 'gelu' ? gelu(g, f1, mlp.path) : quickGelu(g, f1, mlp.path);
  return g.node('Add', [h, linear(g, mlp.pp('fc2'), act, config.intermediate_size, D)], {}, { name: w.path });
}

/**
 * The text encoder as a graph: input `input_ids` [B, 77] int64, output `last_hidden_state`
 * (float32 in either dtype; a float16 graph's activations follow its float16 embeddings).
 */
export function buildTextEncoderGraph(
  modelDir: string, options: { taps?: boolean; conversionCacheDir?: string; dtype?: GraphDType; provider?: Provider } = {},
): { graph: Graph; config: ClipTextConfig } {
  const config = readConfig(modelDir, 'text_encoder', clipTextConfigSchema);
  const store = openComponentWeights(modelDir, 'text_encoder', options.conversionCacheDir, options.dtype);
  const graph = new Graph('text_encoder', graphVariant(options.provider ?? 'cpu'));
  const inputIds = graph.input('input_ids', 'int64', ['batch', config.max_position_embeddings]);
  const { lastHiddenState, hiddenStates } = clipTextModel(graph, store.root(), inputIds, config);
  graph.output(lastHiddenState, 'last_hidden_state', 'float32', ['batch', config.max_position_embeddings, config.hidden_size]);
  if (options.taps) hiddenStates.forEach((h, i) => graph.output(h, `hidden_states.${i}`));
  // position_ids is a registered buffer in older transformers checkpoints, not a weight.
  store.assertAllUsed((name) => name.endsWith('embeddings.position_ids'));
  return { graph, config };
}
