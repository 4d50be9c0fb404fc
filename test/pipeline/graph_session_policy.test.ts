// The precision policy of pipeline sessions: each provider tried gets its own graph dtype
// (float16 on GPU providers, float32 on the CPU), through the graph cache, with the dtype in the
// provider log line. There is no GPU here: a GPU provider "succeeding" is an injected session
// factory that runs the graph it is given on the CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { buildUNetGraph } from '../../companion/models/unet_2d_condition.ts';
import { PlainUNet } from '../../companion/pipeline/components.ts';
import { loadGraphSession, type GraphSource } from '../../companion/pipeline/graph_session.ts';
import type { GraphDType } from '../../companion/runtime/graph.ts';
import { ort, run, type Provider, type SessionOptions } from '../../companion/runtime/session.ts';
import { maxAbsDiff } from '../helpers/tensors.ts';

const { onnx } = onnxProto;
const MODEL = 'test/fixtures/tiny-sdlayout';
const dir = mkdtempSync(join(tmpdir(), 'tf-policy-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const conversionCacheDir = join(dir, 'conversion');
/** A GPU provider ORT cannot load here (DirectML exists only on Windows). */
const GPU: Provider = process.platform === 'win32' ? 'coreml' : 'dml';

const x = Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => Math.sin(i));
const text = Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i));
const feeds = () => ({
  sample: new ort.Tensor('float32', x, [1, 4, 16, 16]),
  timestep: new ort.Tensor('int64', BigInt64Array.of(981n), [1]),
  encoder_hidden_states: new ort.Tensor('float32', text, [1, 77, 32]),
});

/** Session factory standing in for a working GPU provider: records what it was given, runs it on the CPU. */
function fakeGpu(seen: { provider: string; bytes: Uint8Array }[]): NonNullable<SessionOptions['create']> {
  return (bytes, options) => {
    const provider = String(options.executionProviders![0]);
    seen.push({ provider, bytes });
    return ort.InferenceSession.create(bytes, { ...options, executionProviders: ['cpu'] });
  };
}

function unetSource(built: GraphDType[]): GraphSource<undefined> {
  return {
    modelDir: MODEL, folder: 'unet', component: 'unet', mode: 'plain', conversionCacheDir,
    build: (dtype) => {
      built.push(dtype);
      return { graph: buildUNetGraph(MODEL, { dtype, conversionCacheDir }).graph };
    },
  };
}

function weightTypes(bytes: Uint8Array): Set<number> {
  return new Set(onnx.ModelProto.decode(bytes).graph!.initializer!
    .filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL).map((t) => t.dataType!));
}

test(`providers [${GPU}, cpu]: the ${GPU} attempt (float16 graph) fails here, cpu runs the float32 graph`, async () => {
  const lines: string[] = [];
  const unet = await PlainUNet.load(MODEL, { providers: [GPU, 'cpu'], conversionCacheDir, log: (l) => lines.push(l) });
  const out = await unet.predict(x, { n: 1, c: 4, h: 16, w: 16 }, 981, text, 32);
  await unet.release();
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, new RegExp(`^unet: running on cpu with the float32 graph \\(skipped ${GPU}: .+\\)$`));
  const cpuOnly = await PlainUNet.load(MODEL, { providers: ['cpu'] });
  assert.deepEqual(out, await cpuOnly.predict(x, { n: 1, c: 4, h: 16, w: 16 }, 981, text, 32));
  await cpuOnly.release();
});

test('a GPU provider that loads gets the float16 graph, cached under its dtype and provider', async () => {
  const graphCacheDir = join(dir, 'graphs');
  const seen: { provider: string; bytes: Uint8Array }[] = [];
  const built: GraphDType[] = [];
  const lines: string[] = [];
  const options = { providers: [GPU, 'cpu'] as Provider[], create: fakeGpu(seen), graphCacheDir, log: (l: string) => lines.push(l) };
  const first = await loadGraphSession(unetSource(built), options);
  assert.equal(first.loaded.provider, GPU);
  assert.equal(first.loaded.dtype, 'float16');
  assert.deepEqual(lines, [`unet: running on ${GPU} with the float16 graph`]);
  assert.deepEqual(built, ['float16']);
  assert.deepEqual(seen.map((s) => s.provider), [GPU]);
  assert.deepEqual([...weightTypes(seen[0]!.bytes)], [onnx.TensorProto.DataType.FLOAT16]);
  // It is a working graph: within the float16 tolerance of the float32 one (test/models/float16_graphs.test.ts).
  const half = (await run(first.loaded, feeds())).out!.data as Float32Array;
  await first.loaded.session.release();
  const reference = await loadGraphSession(unetSource([]), { providers: ['cpu'] });
  const full = (await run(reference.loaded, feeds())).out!.data as Float32Array;
  await reference.loaded.session.release();
  const err = maxAbsDiff(half, full);
  assert.ok(err > 0 && err <= 5e-3, `float16 vs float32 graph: ${err}`);

  const second = await loadGraphSession(unetSource(built), options);
  await second.loaded.session.release();
  assert.equal(second.cacheHit, true);
  assert.deepEqual(built, ['float16'], 'the second load is a cache hit');
  const keys = readdirSync(graphCacheDir).filter((f) => f.endsWith('.json'))
    .map((f) => (JSON.parse(readFileSync(join(graphCacheDir, f), 'utf8')) as { key: { dtype: string; provider: string } }).key);
  assert.deepEqual(keys.map((k) => `${k.dtype}@${k.provider}`), [`float16@${GPU}`]);
});

test('a GPU provider whose float16 graph cannot be built is skipped for cpu; a dtype option overrides the policy', async () => {
  const lines: string[] = [];
  const seen: { provider: string; bytes: Uint8Array }[] = [];
  // No conversion folder: the fp32 checkpoint cannot become float16 weights.
  const source: GraphSource<undefined> = { ...unetSource([]), conversionCacheDir: undefined, build: (dtype) => ({ graph: buildUNetGraph(MODEL, { dtype }).graph }) };
  const skipped = await loadGraphSession(source, { providers: [GPU, 'cpu'], create: fakeGpu(seen), log: (l) => lines.push(l) });
  await skipped.loaded.session.release();
  assert.equal(skipped.loaded.dtype, 'float32');
  assert.match(lines[0]!, new RegExp(`^unet: running on cpu with the float32 graph \\(skipped ${GPU}: .*pass conversionCacheDir to convert the unet weights to float16 once\\)$`));
  assert.deepEqual(seen.map((s) => s.provider), ['cpu']);

  const forced = await loadGraphSession(unetSource([]), { providers: [GPU, 'cpu'], create: fakeGpu(seen), dtype: 'float32', log: (l) => lines.push(l) });
  await forced.loaded.session.release();
  assert.equal(forced.loaded.provider, GPU);
  assert.equal(lines[1], `unet: running on ${GPU} with the float32 graph`);
  assert.deepEqual([...weightTypes(seen.at(-1)!.bytes)], [onnx.TensorProto.DataType.FLOAT]);
});

test('each provider variant gets its own graph and cache entry, also at the same dtype (coreml fails here, cpu runs)', async () => {
  const cacheDir = join(dir, 'variants');
  const built: string[] = [];
  const source: GraphSource<undefined> = {
    modelDir: MODEL, folder: 'unet', component: 'unet', mode: 'plain', conversionCacheDir,
    build: (dtype, provider) => {
      built.push(`${provider}/${dtype}`);
      return { graph: buildUNetGraph(MODEL, { dtype, provider, conversionCacheDir }).graph };
    },
  };
  const lines: string[] = [];
  const { loaded } = await loadGraphSession(source, { providers: ['coreml', 'cpu'], dtype: 'float32', graphCacheDir: cacheDir, log: (l) => lines.push(l) });
  await loaded.session.release();
  assert.equal(loaded.provider, 'cpu');
  assert.deepEqual(built, ['coreml/float32', 'cpu/float32']);
  const ops = readdirSync(cacheDir).filter((f) => f.endsWith('.onnx')).map((f) =>
    new Set(onnx.ModelProto.decode(readFileSync(join(cacheDir, f))).graph!.node!.map((n) => n.opType!)));
  assert.equal(ops.length, 2);
  assert.deepEqual(ops.map((o) => o.has('FusedMatMul')).sort(), [false, true], 'the CoreML graph has no FusedMatMul, the CPU graph has');
  assert.match(lines.at(-1)!, /^unet: running on cpu with the float32 graph \(skipped coreml: .+\)$/);
});
