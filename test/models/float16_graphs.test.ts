// float16 graphs (the GPU providers' precision) built from tiny-sd15 and run on the CPU provider,
// where ORT computes them with inserted casts, against the golden tensors.
//
// Tolerances come from measurement (2 cores, AVX-512, ORT 1.30). Nearly all of the error is the
// rounding of the weights to fp16: the float32 graph fed the same fp16-rounded weights lands
// almost as far from the golden tensors (max abs error, float16 graph vs float32 graph on fp16
// weights): text encoder 3.76e-3 vs 3.73e-3; VAE mean 1.12e-3 vs 1.02e-3, logvar 1.37e-3 vs
// 1.32e-3, image 1.13e-3 vs 1.13e-3; UNet 1.78e-3 vs 1.52e-3. The bounds are about 2.5x the
// float16 graph's error, on outputs of magnitude 1-3. On a GPU, which really computes in fp16,
// the error is larger: ~1e-2 on WebGPU (webgpu_parity.test.ts).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { buildTextEncoderGraph } from '../../companion/models/clip_text.ts';
import { buildUNetGraph } from '../../companion/models/unet_2d_condition.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../companion/models/vae.ts';
import { buildTokenFlowGraph } from '../../companion/pipeline/unet_modes.ts';
import type { Graph, GraphDType } from '../../companion/runtime/graph.ts';
import { SafetensorsFile } from '../../companion/runtime/safetensors.ts';
import { createSession, run, ort, type LoadedSession } from '../../companion/runtime/session.ts';
import { writeHalfVariant } from '../helpers/half_model.ts';
import { assertClose, maxAbsDiff } from '../helpers/tensors.ts';

const { onnx } = onnxProto;
const MODEL = 'test/fixtures/tiny-sd15';
const LAYOUT = 'test/fixtures/tiny-sdlayout';
const COMPONENTS = ['text_encoder', 'vae', 'unet'];
const TOL = { text: 1e-2, vae: 4e-3, unet: 5e-3 };

const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-f16-test-'));
const cache = join(tmp, 'conversion');
/** Only the fp16 variant: the float32 graph widens it (the weights-only error baseline). */
const HALF_ONLY = join(tmp, 'half-only');
/** Both variants, as the hub ships SD: each graph dtype picks its own file. */
const BOTH = join(tmp, 'both');
writeHalfVariant(MODEL, HALF_ONLY, COMPONENTS, { keepFloat32: false });
writeHalfVariant(MODEL, BOTH, COMPONENTS, { keepFloat32: true });
const measured: string[] = [];
after(() => {
  rmSync(tmp, { recursive: true, force: true });
  console.log(`float16 graph max abs errors (float32 graph on fp16 weights in brackets): ${measured.join(', ')}`);
});

const textGolden = SafetensorsFile.open(`${MODEL}/golden/text_encoder.safetensors`);
const vaeGolden = SafetensorsFile.open(`${MODEL}/golden/vae.safetensors`);
const unetGolden = SafetensorsFile.open(`${MODEL}/golden/unet.safetensors`);

function cpu(graph: Graph): Promise<LoadedSession> {
  return createSession(graph, { providers: ['cpu'] });
}

function tensor(file: SafetensorsFile, name: string): ort.Tensor {
  return new ort.Tensor('float32', file.readFloat32(name), file.info(name).shape);
}

function ints(file: SafetensorsFile, name: string): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(file.readInts(name).map(BigInt)), file.info(name).shape);
}

/** Runs `outputs` of a graph built both ways; returns the float16 graph's values and both errors. */
async function compare(
  what: string, build: (dir: string, dtype: GraphDType) => Graph, feeds: Record<string, ort.Tensor>, want: Record<string, Float32Array>, tol: number,
): Promise<Record<string, Float32Array>> {
  const half = await run(await cpu(build(MODEL, 'float16')), feeds);
  const widened = await run(await cpu(build(HALF_ONLY, 'float32')), feeds);
  const got: Record<string, Float32Array> = {};
  for (const [name, golden] of Object.entries(want)) {
    const out = half[name]!;
    assert.equal(out.type, 'float32', `${what} ${name}: float16 graphs keep float32 outputs`);
    got[name] = out.data as Float32Array;
    const err = assertClose(got[name], golden, tol, `${what} ${name} (float16 graph)`);
    measured.push(`${what} ${name} ${err.toExponential(2)} [${maxAbsDiff(widened[name]!.data as Float32Array, golden).toExponential(2)}]`);
  }
  return got;
}

test(`text encoder float16 graph matches transformers (tol ${TOL.text})`, async () => {
  const build = (dir: string, dtype: GraphDType) => buildTextEncoderGraph(dir, { dtype, conversionCacheDir: cache }).graph;
  await compare('text', build, { input_ids: ints(textGolden, 'input_ids') }, { last_hidden_state: textGolden.readFloat32('last_hidden_state') }, TOL.text);
});

test(`VAE encoder and decoder float16 graphs match diffusers (tol ${TOL.vae})`, async () => {
  const enc = (dir: string, dtype: GraphDType) => buildVaeEncoderGraph(dir, { dtype, conversionCacheDir: cache }).graph;
  const dec = (dir: string, dtype: GraphDType) => buildVaeDecoderGraph(dir, { dtype, conversionCacheDir: cache }).graph;
  for (const c of ['enc64x64', 'enc48x80']) {
    const want = { mean: vaeGolden.readFloat32(`${c}.mean`), logvar: vaeGolden.readFloat32(`${c}.logvar`) };
    await compare(c, enc, { image: tensor(vaeGolden, `${c}.image`) }, want, TOL.vae);
  }
  for (const c of ['dec32x32', 'dec24x40']) {
    await compare(c, dec, { latents: tensor(vaeGolden, `${c}.latents`) }, { image: vaeGolden.readFloat32(`${c}.image`) }, TOL.vae);
  }
});

test(`UNet float16 graph matches diffusers on the three golden cases (tol ${TOL.unet})`, async () => {
  const build = (dir: string, dtype: GraphDType) => buildUNetGraph(dir, { dtype, conversionCacheDir: cache }).graph;
  for (const c of ['case1', 'case2', 'case3']) {
    const feeds = { sample: tensor(unetGolden, `${c}.sample`), timestep: ints(unetGolden, `${c}.timestep`), encoder_hidden_states: tensor(unetGolden, `${c}.encoder_hidden_states`) };
    await compare(c, build, feeds, { out: unetGolden.readFloat32(`${c}.out`) }, TOL.unet);
  }
});

test('an fp16 variant is used as it is by float16 graphs (no conversion) and ignored by float32 graphs', async () => {
  const locations = (graph: Graph) => new Set(onnx.ModelProto.decode(graph.toBytes()).graph!.initializer!
    .filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
    .map((t) => t.externalData!.find((e) => e.key === 'location')!.value));
  const asIs = buildUNetGraph(BOTH, { dtype: 'float16' }).graph; // no conversionCacheDir: nothing to convert
  assert.deepEqual([...locations(asIs)], ['diffusion_pytorch_model.fp16.safetensors']);
  assert.deepEqual([...locations(buildUNetGraph(BOTH).graph)], ['diffusion_pytorch_model.safetensors']);
  // The converted fp32 checkpoint and the fp16 variant hold the same bits: identical outputs.
  const feeds = { sample: tensor(unetGolden, 'case2.sample'), timestep: ints(unetGolden, 'case2.timestep'), encoder_hidden_states: tensor(unetGolden, 'case2.encoder_hidden_states') };
  const converted = await run(await cpu(buildUNetGraph(MODEL, { dtype: 'float16', conversionCacheDir: cache }).graph), feeds);
  const variant = await run(await cpu(asIs), feeds);
  assert.deepEqual(variant.out!.data, converted.out!.data);
  assert.throws(() => buildUNetGraph(MODEL, { dtype: 'float16' }), /weight ".*" is F32; pass conversionCacheDir to convert the unet weights to float16 once/);
});

/** Precision-sensitive ops: their inputs must be float32 in every graph. */
const FLOAT32_OPS = new Set(['LayerNormalization', 'InstanceNormalization', 'Softmax', 'MultiHeadAttention']);

type INodeProto = onnxProto.onnx.INodeProto;

/** Every node of a model, If branches included. */
function allNodes(nodes: INodeProto[]): INodeProto[] {
  return nodes.flatMap((n) => [n, ...(n.attribute ?? []).flatMap((a) => (a.g ? allNodes(a.g.node ?? []) : []))]);
}

test('float16 graphs: norms, softmax and attention see only float32 inputs; weights and activations are fp16; edges float32', () => {
  const graphs: [string, Graph, Record<string, number>][] = [
    // 5 layers: 2 LayerNorms each + the final one; one attention each.
    ['text_encoder', buildTextEncoderGraph(MODEL, { dtype: 'float16', conversionCacheDir: cache }).graph, { LayerNormalization: 11, MultiHeadAttention: 5 }],
    ['vae_encoder', buildVaeEncoderGraph(MODEL, { dtype: 'float16', conversionCacheDir: cache }).graph, { InstanceNormalization: 10, MultiHeadAttention: 1 }],
    ['vae_decoder', buildVaeDecoderGraph(MODEL, { dtype: 'float16', conversionCacheDir: cache }).graph, { InstanceNormalization: 14, MultiHeadAttention: 1 }],
    // 6 transformer blocks: 3 LayerNorms and 2 attentions each.
    ['unet', buildUNetGraph(MODEL, { dtype: 'float16', conversionCacheDir: cache }).graph, { InstanceNormalization: 31, LayerNormalization: 18, MultiHeadAttention: 12 }],
    // 16 blocks: the keyframe branch's per-frame and extended self-attention, and cross-attention.
    ['tokenflow', buildTokenFlowGraph(LAYOUT, { dtype: 'float16', conversionCacheDir: cache, debug: true }).graph, { InstanceNormalization: 61, LayerNormalization: 48, MultiHeadAttention: 48 }],
  ];
  for (const [name, graph, want] of graphs) {
    const model = onnx.ModelProto.decode(graph.toBytes()).graph!;
    const nodes = allNodes(model.node ?? []);
    const counts: Record<string, number> = {};
    for (const node of nodes) {
      if (!FLOAT32_OPS.has(node.opType!)) continue;
      counts[node.opType!] = (counts[node.opType!] ?? 0) + 1;
      for (const input of node.input!.filter((i) => i !== '')) {
        assert.equal(graph.typeOf(input), 'float32', `${name}: ${node.name} reads ${input} as ${graph.typeOf(input)}`);
      }
    }
    for (const [op, n] of Object.entries(want)) assert.equal(counts[op], n, `${name}: ${op} count`);
    // Convolutions and projections do run in fp16, on fp16 weights.
    const halfCompute = nodes.filter((n) => ['Conv', 'FusedMatMul'].includes(n.opType!) && graph.typeOf(n.input![0]!) === 'float16');
    assert.ok(halfCompute.length > 0, `${name}: no float16 Conv/FusedMatMul`);
    const weights = model.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
    assert.ok(weights.every((t) => t.dataType === onnx.TensorProto.DataType.FLOAT16 || t.dataType === onnx.TensorProto.DataType.INT64), `${name}: weights not all fp16`);
    const edges = [...model.input!, ...model.output!].map((v) => v.type!.tensorType!.elemType);
    assert.ok(!edges.includes(onnx.TensorProto.DataType.FLOAT16), `${name}: a float16 graph input or output`);
  }
});
