import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUNetGraph, isGoldenTap, type UNetHooks } from '../../companion/models/unet_2d_condition.ts';
import { readConfig, unetConfigSchema } from '../../companion/models/config.ts';
import { DDIMScheduler, ddimInversion, ddimSample } from '../../companion/models/ddim.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';
import { createSession, run, ort, type LoadedSession } from '../../companion/runtime/session.ts';
import type { Graph } from '../../companion/runtime/graph.ts';
import { assertClose, maxAbsDiff } from '../helpers/tensors.ts';
import { unetWeightShapes, writeRandomUNet } from '../helpers/unet_checkpoint.ts';

const MODEL = 'test/fixtures/tiny-sd15';
const WEIGHTS = 'diffusion_pytorch_model.safetensors';
const golden = SafetensorsFile.open(`${MODEL}/golden/unet.safetensors`);
const goldenTaps = SafetensorsFile.open(`${MODEL}/golden/unet_taps.safetensors`);
const goldenDdim = SafetensorsFile.open(`${MODEL}/golden/ddim.safetensors`);
const measured: Record<string, number> = {};

const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-unet-test-'));
let plain: LoadedSession;
before(async () => {
  plain = await cpuSession(buildUNetGraph(MODEL).graph);
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
  console.log(`unet max abs errors: ${JSON.stringify(measured)}`);
});

function cpuSession(graph: Graph): Promise<LoadedSession> {
  return createSession(graph, { providers: ['cpu'] });
}

function f32(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

function i64(values: number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [values.length]);
}

function goldenFeeds(file: SafetensorsFile, prefix: string): Record<string, ort.Tensor> {
  const t = (n: string) => f32(file.readFloat32(`${prefix}${n}`), file.info(`${prefix}${n}`).shape);
  return { sample: t('sample'), timestep: i64(file.readInts(`${prefix}timestep`)), encoder_hidden_states: t('encoder_hidden_states') };
}

function randomFeeds(shape: number[], seqLen: number, crossDim: number, t: number[]): Record<string, ort.Tensor> {
  const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.8);
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    sample: f32(rand(n), shape),
    timestep: i64(t),
    encoder_hidden_states: f32(rand(shape[0]! * seqLen * crossDim), [shape[0]!, seqLen, crossDim]),
  };
}

test('UNet matches diffusers on the three golden cases (tol 3e-5)', async () => {
  for (const [c, dims] of [['case1', [2, 4, 32, 32]], ['case2', [1, 4, 24, 40]], ['case3', [3, 4, 32, 32]]] as const) {
    const out = (await run(plain, goldenFeeds(golden, `${c}.`))).out!;
    assert.deepEqual(out.dims, dims);
    measured[`${c}.out`] = assertClose(out.data as Float32Array, golden.readFloat32(`${c}.out`), 3e-5, `${c}.out`);
  }
});

test('a single timestep is broadcast over the batch, as diffusers expands it', async () => {
  const feeds = goldenFeeds(golden, 'case1.');
  const out = (await run(plain, { ...feeds, timestep: i64([981]) })).out!;
  measured['case1.out (scalar timestep)'] = assertClose(out.data as Float32Array, golden.readFloat32('case1.out'), 3e-5, 'case1 with timestep [981]');
});

test('debug taps expose every golden unet_taps tensor by name (tol 2e-4)', async () => {
  const { graph } = buildUNetGraph(MODEL, { taps: true });
  const session = await cpuSession(graph);
  const out = await run(session, goldenFeeds(goldenTaps, ''));
  const names = [...goldenTaps.tensors.keys()].filter((n) => !['sample', 'timestep', 'encoder_hidden_states'].includes(n));
  assert.equal(names.length, 23);
  for (const name of names) {
    const got = out[name];
    assert.ok(got, `tap ${name} is not a graph output`);
    assert.deepEqual(got.dims, goldenTaps.info(name).shape, name);
    measured[name] = assertClose(got.data as Float32Array, goldenTaps.readFloat32(name), 2e-4, name);
  }
  // The taps are extra outputs only: the prediction is unchanged.
  measured['case1.out (taps graph)'] = assertClose(out.out!.data as Float32Array, golden.readFloat32('case1.out'), 3e-5, 'out with taps');
});

test('DDIM inversion and reconstruction chain through the UNet (tol 3e-5 / 3e-4)', async () => {
  const scheduler = await DDIMScheduler.load(`${MODEL}/scheduler`);
  scheduler.setTimesteps(5);
  const latents = goldenDdim.readFloat32('chain.latents');
  const dims = goldenDdim.info('chain.latents').shape;
  const cond = goldenDdim.readFloat32('chain.cond'); // [1, 77, 32], repeated over the batch
  const batch = dims[0]!;
  const condBatch = new Float32Array(cond.length * batch);
  for (let b = 0; b < batch; b++) condBatch.set(cond, b * cond.length);
  const unet = async (x: Float32Array, t: number) => {
    const out = await run(plain, {
      sample: f32(x, dims), timestep: i64([t]), encoder_hidden_states: f32(condBatch, [batch, 77, cond.length / 77]),
    });
    return out.out!.data as Float32Array;
  };
  let step = 0;
  const inverted = await ddimInversion(scheduler, latents, unet, (_t, x) => {
    const name = `chain.inverted.${step++}`;
    measured[name] = assertClose(x, goldenDdim.readFloat32(name), 3e-5, name);
  });
  assert.equal(step, 5);
  const reconstructed = await ddimSample(scheduler, inverted, unet);
  measured['chain.reconstructed'] = assertClose(reconstructed, goldenDdim.readFloat32('chain.reconstructed'), 3e-4, 'chain.reconstructed');
});

test('latent sides that are not multiples of the downscale run and keep their size', async () => {
  for (const shape of [[1, 4, 18, 30], [2, 4, 17, 29]]) {
    const out = (await run(plain, randomFeeds(shape, 77, 32, shape.map(() => 500).slice(0, shape[0])))).out!;
    assert.deepEqual(out.dims, shape);
    assert.ok((out.data as Float32Array).every(Number.isFinite));
  }
});

test('the checkpoint generator reproduces the tiny-sd15 weight names and shapes', () => {
  const config = readConfig(MODEL, 'unet', unetConfigSchema);
  const file = SafetensorsFile.open(`${MODEL}/unet/${WEIGHTS}`);
  const want = [...file.tensors.values()].map((t) => `${t.name} [${t.shape}]`).sort();
  assert.deepEqual(unetWeightShapes(config).map(([n, s]) => `${n} [${s}]`).sort(), want);
});

test('SD 2.x-style config (linear proj_in/out, per-block heads, 3 downsamples) builds, uses every weight, runs', async () => {
  const dir = join(tmp, 'sd2-style');
  const rawConfig = {
    block_out_channels: [32, 32, 64, 64],
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: 2,
    attention_head_dim: [2, 4, 8, 8],
    cross_attention_dim: 48,
    norm_num_groups: 8,
    use_linear_projection: true,
    upcast_attention: true,
    flip_sin_to_cos: true,
    freq_shift: 0,
  };
  writeRandomUNet(dir, rawConfig);
  const heads: Record<string, number> = {};
  const hooks: UNetHooks = { selfAttention: (ctx) => void (heads[ctx.path] = ctx.heads) };
  const { graph, config } = buildUNetGraph(dir, { hooks });
  assert.equal(config.use_linear_projection, true);
  // 7 transformers down/mid, 9 up: the SD layout's 16 self-attentions, heads per block.
  assert.equal(Object.keys(heads).length, 16);
  assert.equal(heads['down_blocks.0.attentions.0.transformer_blocks.0.attn1'], 2);
  assert.equal(heads['down_blocks.2.attentions.1.transformer_blocks.0.attn1'], 8);
  assert.equal(heads['up_blocks.3.attentions.2.transformer_blocks.0.attn1'], 2);
  assert.equal(heads['up_blocks.2.attentions.0.transformer_blocks.0.attn1'], 4);
  const session = await cpuSession(graph);
  // 12x20: 12 -> 6 -> 3 -> 2, so the decoder upsamples 2 -> 3 to meet its skip.
  for (const shape of [[2, 4, 16, 16], [1, 4, 12, 20]]) {
    const out = (await run(session, randomFeeds(shape, 77, 48, shape[0] === 2 ? [999, 1] : [500]))).out!;
    assert.deepEqual(out.dims, shape);
    assert.ok((out.data as Float32Array).every(Number.isFinite));
  }
});

/** A copy of the tiny-sd15 UNet whose weight file gets `extra` tensors and loses `drop`. */
function variantModel(name: string, drop: string[], extra: [string, TensorToWrite][]): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'unet'), { recursive: true });
  copyFileSync(`${MODEL}/unet/config.json`, join(dir, 'unet', 'config.json'));
  const source = SafetensorsFile.open(`${MODEL}/unet/${WEIGHTS}`);
  const entries: [string, TensorToWrite][] = [...source.tensors.values()]
    .filter((t) => !drop.includes(t.name))
    .map((t) => [t.name, { dtype: 'F32', shape: t.shape, data: source.readFloat32(t.name) }]);
  writeSafetensors(join(dir, 'unet', WEIGHTS), [...entries, ...extra]);
  return dir;
}

test('weight coverage: an unused checkpoint weight and a missing one both fail, naming the weight', () => {
  const extra = variantModel('extra', [], [['down_blocks.0.attentions.0.norm.weight', { dtype: 'F32', shape: [32], data: new Float32Array(32) }]]);
  assert.throws(() => buildUNetGraph(extra), /not used by the graph.*down_blocks\.0\.attentions\.0\.norm\.weight/);
  const missing = variantModel('missing', ['up_blocks.1.resnets.1.conv2.bias'], []);
  assert.throws(() => buildUNetGraph(missing), /missing weight "up_blocks\.1\.resnets\.1\.conv2\.bias"/);
  const wrongShape = variantModel('shape', ['mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight'], [
    ['mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight', { dtype: 'F32', shape: [64, 48], data: new Float32Array(64 * 48) }],
  ]);
  assert.throws(() => buildUNetGraph(wrongShape), /attn2\.to_k\.weight" has shape \[64,48\], expected \[64,32\]/);
});

test('hooks: every self-attention and resnet is offered by its diffusers path, with its taps', () => {
  const attn: string[] = [];
  const resnets: string[] = [];
  const taps: string[] = [];
  buildUNetGraph(MODEL, {
    hooks: {
      selfAttention: (ctx) => void attn.push(`${ctx.path} ${ctx.heads}x${ctx.headDim}=${ctx.channels}`),
      resnet: (ctx) => void resnets.push(ctx.path),
      tap: (name) => void taps.push(name),
    },
  });
  assert.deepEqual(attn, [
    'down_blocks.1.attentions.0.transformer_blocks.0.attn1 8x8=64',
    'down_blocks.1.attentions.1.transformer_blocks.0.attn1 8x8=64',
    'mid_block.attentions.0.transformer_blocks.0.attn1 8x8=64',
    'up_blocks.0.attentions.0.transformer_blocks.0.attn1 8x8=64',
    'up_blocks.0.attentions.1.transformer_blocks.0.attn1 8x8=64',
    'up_blocks.0.attentions.2.transformer_blocks.0.attn1 8x8=64',
  ]);
  assert.equal(resnets.length, 4 + 2 + 6);
  assert.ok(resnets.includes('up_blocks.1.resnets.1'));
  const golden = [...goldenTaps.tensors.keys()].filter((n) => !['sample', 'timestep', 'encoder_hidden_states'].includes(n));
  for (const name of golden) assert.ok(taps.includes(name), `no tap ${name}`);
  assert.deepEqual(taps.filter(isGoldenTap).sort(), golden.sort());
});

test('hooks: replacing attn1 and the conv2 output changes the graph as asked', async () => {
  const feeds = goldenFeeds(golden, 'case1.');
  const want = golden.readFloat32('case1.out');
  const path = 'up_blocks.0.attentions.1.transformer_blocks.0.attn1';

  // Rebuilding the plain attention from the context's parts gives the plain result.
  const rebuilt = buildUNetGraph(MODEL, { hooks: { selfAttention: (ctx) => ctx.out(ctx.attend(ctx.q(), ctx.k(), ctx.v())) } });
  const same = (await run(await cpuSession(rebuilt.graph), feeds)).out!.data as Float32Array;
  assertClose(same, want, 3e-5, 'attention rebuilt by a hook');

  // A hook that zeroes one block's self-attention without projecting q/k/v: no to_q node is
  // emitted for it, every weight still counts as used, and the output changes.
  const zeroed = buildUNetGraph(MODEL, {
    hooks: { selfAttention: (ctx) => (ctx.path === path ? ctx.g.node('Mul', [ctx.normHiddenStates, ctx.g.scalar(0)]) : undefined) },
  });
  const bytes = Buffer.from(zeroed.graph.toBytes()).toString('latin1');
  assert.ok(!bytes.includes(`${path}.to_q/`), 'q projection emitted although unused');
  assert.ok(bytes.includes('up_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q/'));
  const changed = (await run(await cpuSession(zeroed.graph), feeds)).out!.data as Float32Array;
  assert.ok(maxAbsDiff(changed, want) > 1e-3, 'zeroing a self-attention had no effect');

  // Conv injection point: replacing up_blocks.1.resnets.1's conv2 output with zeros.
  const injected = buildUNetGraph(MODEL, {
    hooks: { resnet: (ctx) => (ctx.path === 'up_blocks.1.resnets.1' ? ctx.g.node('Mul', [ctx.conv2Output, ctx.g.scalar(0)]) : undefined) },
  });
  const diff = (await run(await cpuSession(injected.graph), feeds)).out!.data as Float32Array;
  assert.ok(maxAbsDiff(diff, want) > 1e-3, 'replacing the conv2 output had no effect');
});

/** float32 -> IEEE half, round to nearest even (normal range; the tiny weights are small). */
function toHalf(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  return Uint16Array.from(bits, (b) => {
    const sign = (b >>> 16) & 0x8000;
    const exp = ((b >>> 23) & 0xff) - 127 + 15;
    if (exp <= 0) return sign; // below half's normal range: flush to zero
    const mant = b & 0x7fffff;
    let h = sign | (exp << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
    return h;
  });
}

test('fp16 checkpoints need a conversion folder, then run in float32 close to the golden output', async () => {
  const dir = join(tmp, 'fp16');
  mkdirSync(join(dir, 'unet'), { recursive: true });
  copyFileSync(`${MODEL}/unet/config.json`, join(dir, 'unet', 'config.json'));
  const source = SafetensorsFile.open(`${MODEL}/unet/${WEIGHTS}`);
  writeSafetensors(join(dir, 'unet', 'diffusion_pytorch_model.fp16.safetensors'), [...source.tensors.values()].map((t): [string, TensorToWrite] =>
    [t.name, { dtype: 'F16', shape: t.shape, data: toHalf(source.readFloat32(t.name)) }]));
  assert.throws(() => buildUNetGraph(dir), /weight ".*" is F16; pass conversionCacheDir/);
  const { graph } = buildUNetGraph(dir, { conversionCacheDir: join(tmp, 'f32-cache') });
  const out = (await run(await cpuSession(graph), goldenFeeds(golden, 'case1.'))).out!.data as Float32Array;
  // Weights rounded to fp16 (relative 5e-4) move the output by ~1e-3, not more.
  const err = maxAbsDiff(out, golden.readFloat32('case1.out'));
  measured['case1.out (fp16 weights)'] = err;
  assert.ok(err < 2e-2 && err > 0, `fp16 weights: max abs error ${err}`);
});

test('per-block transformer_layers_per_block and an explicit num_attention_heads', () => {
  const dir = join(tmp, 'layers');
  writeRandomUNet(dir, {
    block_out_channels: [32, 64],
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: 1,
    transformer_layers_per_block: [2, 1],
    attention_head_dim: 8,
    num_attention_heads: [2, 4],
    cross_attention_dim: 16,
    norm_num_groups: 16,
  });
  const seen: string[] = [];
  buildUNetGraph(dir, { hooks: { selfAttention: (ctx) => void seen.push(`${ctx.path} ${ctx.heads}`) } });
  assert.deepEqual(seen, [
    'down_blocks.0.attentions.0.transformer_blocks.0.attn1 2',
    'down_blocks.0.attentions.0.transformer_blocks.1.attn1 2',
    'mid_block.attentions.0.transformer_blocks.0.attn1 4',
    'up_blocks.1.attentions.0.transformer_blocks.0.attn1 2',
    'up_blocks.1.attentions.0.transformer_blocks.1.attn1 2',
    'up_blocks.1.attentions.1.transformer_blocks.0.attn1 2',
    'up_blocks.1.attentions.1.transformer_blocks.1.attn1 2',
  ]);
});
