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
import { Graph, type GraphDType } from '../../companion/runtime/graph.ts';
import { matMulTransposed, rowNorm } from '../../companion/runtime/nn.ts';
import { graphVariant, type Provider } from '../../companion/runtime/providers.ts';
import { SafetensorsFile } from '../../companion/runtime/safetensors.ts';
import { createSession, ort, run } from '../../companion/runtime/session.ts';
import { assertClose } from '../helpers/tensors.ts';
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

/** Op counts by type; a Gemm whose B is not an initializer counts as `Gemm(dynamic B)` (CoreML needs it constant). */
function opCounts(graph: Graph): Record<string, number> {
  const counts: Record<string, number> = {};
  const model = onnx.ModelProto.decode(graph.toBytes()).graph!;
  const initializers = new Set(model.initializer!.map((t) => t.name!));
  for (const n of allNodes(model.node ?? [])) {
    const dynamicGemm = n.opType === 'Gemm' && !initializers.has(n.input![1]!);
    const key = n.domain ? `${n.domain}.${n.opType}` : dynamicGemm ? 'Gemm(dynamic B)' : n.opType!;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Nodes of the CoreML variant outside ORT's MLProgram list, which CoreML leaves to the CPU:
 * the token-id lookup, the timestep broadcast, and in TokenFlow's nearest-neighbour search
 * the index gather of the keyframe tokens and the keyframe/propagate switch (Where); row norms
 * and cosine similarities take MLProgram forms (nn.ts rowNorm, matMulTransposed). `If` is
 * control flow: with the subgraph flag CoreML takes the nodes inside its branches.
 */
const COREML_CPU_LEFT: Record<string, Record<string, number>> = {
  text_encoder: { Gather: 1 },
  vae_encoder: {},
  vae_decoder: {},
  unet: { Expand: 1 },
  tokenflow: { Expand: 17, If: 16, Gather: 32, Where: 17 },
};

test('CoreML variant: no contrib op; every op but the named ones is on ORT\'s MLProgram list', () => {
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

test('the CoreML forms compute what the CPU forms do: goldens through the coreml-variant graphs on the CPU provider (float32)', async () => {
  const cpu = async (graph: Graph, feeds: Record<string, ort.Tensor>) => {
    const loaded = await createSession(graph, { providers: ['cpu'] });
    try {
      return await run(loaded, feeds);
    } finally {
      await loaded.session.release();
    }
  };
  const f = (file: SafetensorsFile, name: string) => new ort.Tensor('float32', file.readFloat32(name), file.info(name).shape);
  const ids = (file: SafetensorsFile, name: string) => new ort.Tensor('int64', BigInt64Array.from(file.readInts(name).map(BigInt)), file.info(name).shape);
  const o = { provider: 'coreml' as const };
  const text = SafetensorsFile.open(`${MODEL}/golden/text_encoder.safetensors`);
  const outText = await cpu(buildTextEncoderGraph(MODEL, o).graph, { input_ids: ids(text, 'input_ids') });
  assertClose(outText.last_hidden_state!.data as Float32Array, text.readFloat32('last_hidden_state'), 2e-5, 'text encoder (explicit masked attention)');
  const vae = SafetensorsFile.open(`${MODEL}/golden/vae.safetensors`);
  const outDec = await cpu(buildVaeDecoderGraph(MODEL, o).graph, { latents: f(vae, 'dec32x32.latents') });
  assertClose(outDec.image!.data as Float32Array, vae.readFloat32('dec32x32.image'), 2e-5, 'VAE decoder');
  const unet = SafetensorsFile.open(`${MODEL}/golden/unet.safetensors`);
  const outUnet = await cpu(buildUNetGraph(MODEL, o).graph, { sample: f(unet, 'case1.sample'), timestep: ids(unet, 'case1.timestep'), encoder_hidden_states: f(unet, 'case1.encoder_hidden_states') });
  assertClose(outUnet.out!.data as Float32Array, unet.readFloat32('case1.out'), 3e-5, 'UNet');

  // TokenFlow's row norms and cosine similarities.
  const similarity = async (provider: Provider) => {
    const g = new Graph('similarity', graphVariant(provider));
    const a = g.input('a', 'float32', [5, 3]);
    const b = g.input('b', 'float32', [4, 3]);
    g.output(matMulTransposed(g, g.node('Div', [a, rowNorm(g, a, 'n')]), b, 's'), 'y');
    const feeds = { a: new ort.Tensor('float32', Float32Array.from({ length: 15 }, (_, i) => Math.sin(i + 1)), [5, 3]), b: new ort.Tensor('float32', Float32Array.from({ length: 12 }, (_, i) => Math.cos(i)), [4, 3]) };
    return (await cpu(g, feeds)).y!.data as Float32Array;
  };
  assertClose(await similarity('coreml'), await similarity('cpu'), 1e-6, 'rowNorm / matMulTransposed');
});
