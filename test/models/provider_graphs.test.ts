// The graph forms per provider variant (runtime/providers.ts, runtime/nn.ts), checked on the
// built graphs of tiny-sd15 and tiny-sdlayout: what each provider is given to run natively.
// CoreML cannot run here, so its variant is checked against ORT's documented MLProgram op list.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import { buildTextEncoderGraph } from '../../companion/models/clip_text.ts';
import { buildUNetGraph } from '../../companion/models/unet_2d_condition.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../companion/models/vae.ts';
import { buildTokenFlowGraph } from '../../companion/pipeline/unet_modes.ts';
import type { Graph, GraphDType } from '../../companion/runtime/graph.ts';
import type { Provider } from '../../companion/runtime/providers.ts';
import { COREML_MLPROGRAM_OPS } from '../helpers/coreml_mlprogram_ops.ts';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
const MODEL = 'test/fixtures/tiny-sd15';
const LAYOUT = 'test/fixtures/tiny-sdlayout';
const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-provider-graphs-'));
const cache = join(tmp, 'conversion');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Every node of a model, If branches included. */
function allNodes(nodes: INodeProto[]): INodeProto[] {
  return nodes.flatMap((n) => [n, ...(n.attribute ?? []).flatMap((a) => (a.g ? allNodes(a.g.node ?? []) : []))]);
}

function components(provider: Provider, dtype: GraphDType): [string, Graph][] {
  const o = { provider, dtype, conversionCacheDir: cache };
  return [
    ['text_encoder', buildTextEncoderGraph(MODEL, o).graph],
    ['vae_encoder', buildVaeEncoderGraph(MODEL, o).graph],
    ['vae_decoder', buildVaeDecoderGraph(MODEL, o).graph],
    ['unet', buildUNetGraph(MODEL, o).graph],
    ['tokenflow', buildTokenFlowGraph(LAYOUT, o).graph],
  ];
}

function opCounts(graph: Graph): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of allNodes(onnx.ModelProto.decode(graph.toBytes()).graph!.node ?? [])) {
    const key = n.domain ? `${n.domain}.${n.opType}` : n.opType!;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Nodes of the CoreML variant outside ORT's MLProgram list, which CoreML leaves to the CPU:
 * all small (the token-id lookup, the timestep broadcast, and TokenFlow's nearest-neighbour
 * search: norms, the index gather, the keyframe/propagate switch). `If` is control flow: with
 * the subgraph flag CoreML takes the nodes inside its branches.
 */
const COREML_CPU_LEFT: Record<string, Record<string, number>> = {
  text_encoder: { Gather: 1 },
  vae_encoder: {},
  vae_decoder: {},
  unet: { Expand: 1 },
  tokenflow: { Expand: 17, If: 16, ReduceL2: 48, Gather: 32, Where: 17 },
};

test('CoreML variant: every heavy op is on ORT\'s MLProgram list; no contrib op; what is left is small and named', () => {
  for (const dtype of ['float16', 'float32'] as const) {
    for (const [name, graph] of components('coreml', dtype)) {
      const counts = opCounts(graph);
      const outside = Object.fromEntries(Object.entries(counts).filter(([op]) => !(op in COREML_MLPROGRAM_OPS)));
      assert.deepEqual(outside, COREML_CPU_LEFT[name], `${name} ${dtype}: ops outside the MLProgram list`);
      for (const op of name === 'text_encoder' ? ['MatMul', 'Softmax'] : ['MatMul', 'Softmax', 'Conv']) assert.ok(counts[op]! > 0, `${name}: no ${op}`);
    }
  }
});

test('WebGPU variant: linear layers as MatMul + Add (no FusedMatMul); attention fused in float16, explicit in float32', () => {
  const cpu = Object.fromEntries(components('cpu', 'float16').map(([name, g]) => [name, opCounts(g)]));
  for (const dtype of ['float16', 'float32'] as const) {
    for (const [name, graph] of components('webgpu', dtype)) {
      const counts = opCounts(graph);
      const contrib = Object.keys(counts).filter((op) => op.startsWith('com.microsoft.'));
      const mha = cpu[name]!['com.microsoft.MultiHeadAttention']!;
      // The text encoder asks for float32 attention (its causal mask is float32's minimum).
      const fusedAttention = dtype === 'float16' && name !== 'text_encoder';
      assert.deepEqual(contrib, fusedAttention ? ['com.microsoft.MultiHeadAttention'] : [], `${name} ${dtype}: contrib ops`);
      if (fusedAttention) assert.equal(counts['com.microsoft.MultiHeadAttention'], mha, `${name}: every attention fused`);
      else assert.equal((counts.Softmax ?? 0) - (cpu[name]!.Softmax ?? 0), mha, `${name} ${dtype}: one Softmax per attention`);
      // Every CPU FusedMatMul became a MatMul (explicit attention adds two per attention).
      const extra = fusedAttention ? 0 : 2 * mha;
      assert.equal(counts.MatMul! - (cpu[name]!.MatMul ?? 0) - extra, cpu[name]!['com.microsoft.FusedMatMul'], `${name} ${dtype}: MatMul count`);
    }
  }
});

test('CPU variant: FusedMatMul and MultiHeadAttention, attention in float32 even in float16 graphs', () => {
  for (const [name, graph] of components('cpu', 'float16')) {
    const counts = opCounts(graph);
    assert.ok(counts['com.microsoft.FusedMatMul']! > 0 && counts['com.microsoft.MultiHeadAttention']! > 0, name);
    assert.equal(counts.Softmax ?? 0, 0, `${name}: no explicit attention`);
    const model = onnx.ModelProto.decode(graph.toBytes()).graph!;
    for (const n of allNodes(model.node ?? []).filter((n) => n.opType === 'MultiHeadAttention')) {
      assert.equal(graph.typeOf(n.input![0]!), 'float32', `${name}: ${n.name}`);
    }
  }
});

/** tiny-sd15 with `upcast_attention` set in the UNet config (weights linked, not copied). */
function upcastModel(): string {
  const dir = join(tmp, 'upcast');
  mkdirSync(join(dir, 'unet'), { recursive: true });
  const config = JSON.parse(readFileSync(join(MODEL, 'unet', 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'unet', 'config.json'), JSON.stringify({ ...config, upcast_attention: true }));
  symlinkSync(resolve(MODEL, 'unet', 'diffusion_pytorch_model.safetensors'), join(dir, 'unet', 'diffusion_pytorch_model.safetensors'));
  copyFileSync(join(MODEL, 'model_index.json'), join(dir, 'model_index.json'));
  return dir;
}

test('attention precision follows the model: 16-bit on GPU variants, float32 where the UNet config sets upcast_attention', () => {
  const upcast = upcastModel();
  const attentionTypes = (graph: Graph) => new Set(allNodes(onnx.ModelProto.decode(graph.toBytes()).graph!.node ?? [])
    .filter((n) => n.opType === 'MultiHeadAttention' || n.opType === 'Softmax').map((n) => graph.typeOf(n.input![0]!)));
  for (const provider of ['cuda', 'webgpu', 'coreml'] as const) {
    assert.deepEqual(attentionTypes(buildUNetGraph(MODEL, { provider, dtype: 'float16', conversionCacheDir: cache }).graph), new Set(['float16']), provider);
    assert.deepEqual(attentionTypes(buildUNetGraph(upcast, { provider, dtype: 'float16', conversionCacheDir: cache }).graph), new Set(['float32']), `${provider} upcast`);
  }
});
