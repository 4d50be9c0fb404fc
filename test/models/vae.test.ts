import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../companion/models/vae.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';
import { createSession, run, ort, type LoadedSession } from '../../companion/runtime/session.ts';
import type { Graph } from '../../companion/runtime/graph.ts';
import { assertClose, maxAbsDiff } from '../helpers/tensors.ts';
import { vaeConfigSchema } from '../../companion/models/config.ts';
import { randomArray, writeRandomVae } from '../helpers/random_vae.ts';

const MODEL = 'test/fixtures/tiny-sd15';
const LAYOUT = 'test/fixtures/tiny-sdlayout';
const WEIGHTS = 'diffusion_pytorch_model.safetensors';
const golden = SafetensorsFile.open(`${MODEL}/golden/vae.safetensors`);

const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-vae-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function cpuSession(graph: Graph): Promise<LoadedSession> {
  return createSession(graph, { providers: ['cpu'] });
}

function goldenTensor(name: string): ort.Tensor {
  return new ort.Tensor('float32', golden.readFloat32(name), golden.info(name).shape);
}

async function encode(session: LoadedSession, c: string): Promise<{ mean: Float32Array; logvar: Float32Array; dims: readonly number[] }> {
  const out = await run(session, { image: goldenTensor(`${c}.image`) });
  return { mean: out.mean!.data as Float32Array, logvar: out.logvar!.data as Float32Array, dims: out.mean!.dims };
}

async function decode(session: LoadedSession, c: string): Promise<{ image: Float32Array; dims: readonly number[] }> {
  const out = await run(session, { latents: goldenTensor(`${c}.latents`) });
  return { image: out.image!.data as Float32Array, dims: out.image!.dims };
}

/** A copy of the tiny-sd15 VAE whose tensors pass through `edit` (return null to drop one). */
function variantModel(
  name: string, edit: (tensor: string, t: TensorToWrite) => [string, TensorToWrite] | null, extra: [string, TensorToWrite][] = [],
): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'vae'), { recursive: true });
  copyFileSync(`${MODEL}/vae/config.json`, join(dir, 'vae', 'config.json'));
  const source = SafetensorsFile.open(`${MODEL}/vae/${WEIGHTS}`);
  const entries: [string, TensorToWrite][] = [];
  for (const info of source.tensors.values()) {
    const edited = edit(info.name, { dtype: 'F32', shape: info.shape, data: source.readFloat32(info.name) });
    if (edited) entries.push(edited);
  }
  writeSafetensors(join(dir, 'vae', WEIGHTS), [...entries, ...extra]);
  return dir;
}

test('VAE encoder matches diffusers posterior mean, logvar and std (tol 2e-5)', async (t) => {
  const { graph, config } = buildVaeEncoderGraph(MODEL);
  assert.equal(config.scaling_factor, 0.18215);
  const session = await cpuSession(graph);
  for (const [c, dims] of [['enc64x64', [2, 4, 32, 32]], ['enc48x80', [1, 4, 24, 40]]] as const) {
    const { mean, logvar, dims: got } = await encode(session, c);
    assert.deepEqual(got, dims);
    const std = logvar.map((x) => Math.exp(0.5 * x));
    const errors = [
      assertClose(mean, golden.readFloat32(`${c}.mean`), 2e-5, `${c}.mean`),
      assertClose(logvar, golden.readFloat32(`${c}.logvar`), 2e-5, `${c}.logvar`),
      assertClose(std, golden.readFloat32(`${c}.std`), 2e-5, `${c}.std`),
    ];
    t.diagnostic(`${c} max abs error mean ${errors[0]!.toExponential(2)} logvar ${errors[1]!.toExponential(2)} std ${errors[2]!.toExponential(2)}`);
  }
});

test('VAE decoder matches diffusers decode (tol 3e-5)', async (t) => {
  const session = await cpuSession(buildVaeDecoderGraph(MODEL).graph);
  for (const [c, dims] of [['dec32x32', [2, 3, 64, 64]], ['dec24x40', [1, 3, 48, 80]]] as const) {
    const { image, dims: got } = await decode(session, c);
    assert.deepEqual(got, dims);
    const err = assertClose(image, golden.readFloat32(`${c}.image`), 3e-5, `${c}.image`);
    t.diagnostic(`${c} max abs error image ${err.toExponential(2)}`);
  }
});

test('legacy attention names (query/key/value/proj_attn) and [C,C,1,1] weights give identical outputs', async () => {
  const legacy: Record<string, string> = { to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' };
  const rename = (name: string) => name.replace(/attentions\.0\.(to_q|to_k|to_v|to_out\.0)\./, (_, n: string) => `attentions.0.${legacy[n]}.`);
  const isProjection = (name: string) => /attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(name);
  const variants = {
    legacyNames: variantModel('legacy-names', (name, t) => [rename(name), t]),
    convWeights: variantModel('conv-weights', (name, t) => [name, isProjection(name) ? { ...t, shape: [...t.shape, 1, 1] } : t]),
    both: variantModel('legacy-conv', (name, t) => [rename(name), isProjection(name) ? { ...t, shape: [...t.shape, 1, 1] } : t]),
  };
  const wantEnc = await encode(await cpuSession(buildVaeEncoderGraph(MODEL).graph), 'enc48x80');
  const wantDec = await decode(await cpuSession(buildVaeDecoderGraph(MODEL).graph), 'dec24x40');
  for (const [name, dir] of Object.entries(variants)) {
    const enc = await encode(await cpuSession(buildVaeEncoderGraph(dir).graph), 'enc48x80');
    const dec = await decode(await cpuSession(buildVaeDecoderGraph(dir).graph), 'dec24x40');
    assert.equal(maxAbsDiff(enc.mean, wantEnc.mean), 0, `${name}: mean`);
    assert.equal(maxAbsDiff(enc.logvar, wantEnc.logvar), 0, `${name}: logvar`);
    assert.equal(maxAbsDiff(dec.image, wantDec.image), 0, `${name}: image`);
  }
});

test('configs beyond the fixtures: layers_per_block 2, 3 blocks, no mid attention, no quant convs', async () => {
  const cases = {
    'layers2': { block_out_channels: [16, 32, 32], layers_per_block: 2, norm_num_groups: 8 },
    'no-attention-no-quant': { block_out_channels: [16, 32], layers_per_block: 1, norm_num_groups: 8, mid_block_add_attention: false, use_quant_conv: false, use_post_quant_conv: false },
  };
  for (const [name, raw] of Object.entries(cases)) {
    const n = raw.block_out_channels.length;
    const config = vaeConfigSchema.parse({ ...raw, down_block_types: Array(n).fill('DownEncoderBlock2D'), up_block_types: Array(n).fill('UpDecoderBlock2D') });
    const dir = join(tmp, `random-${name}`);
    writeRandomVae(dir, config);
    const factor = 2 ** (n - 1);
    const enc = await cpuSession(buildVaeEncoderGraph(dir).graph);
    const { mean, logvar } = await run(enc, { image: new ort.Tensor('float32', randomArray(3 * 24 * 40, 1, 1), [1, 3, 24, 40]) });
    assert.deepEqual(mean!.dims, [1, 4, 24 / factor, 40 / factor], name);
    assert.ok((logvar!.data as Float32Array).every((v) => v >= -30 && v <= 20), `${name}: logvar clamped`);
    const dec = await cpuSession(buildVaeDecoderGraph(dir).graph);
    const { image } = await run(dec, { latents: mean! });
    assert.deepEqual(image!.dims, [1, 3, 24, 40], name);
    assert.ok((image!.data as Float32Array).every(Number.isFinite), `${name}: finite image`);
  }
});

test('a missing weight fails naming it; each graph checks only its own half of the checkpoint', () => {
  const missing = 'decoder.up_blocks.1.resnets.0.conv_shortcut.weight';
  const withoutShortcut = variantModel('missing', (name, t) => (name === missing ? null : [name, t]));
  assert.throws(() => buildVaeDecoderGraph(withoutShortcut), (err: Error) => err.message.includes(`missing weight "${missing}"`) && err.message.includes('[32,64,1,1]'));
  assert.doesNotThrow(() => buildVaeEncoderGraph(withoutShortcut));

  const stray = 'encoder.mid_block.attentions.0.extra.weight';
  const withStray = variantModel('stray', (name, t) => [name, t], [[stray, { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]]);
  assert.throws(() => buildVaeEncoderGraph(withStray), (err: Error) => err.message.includes(stray) && err.message.includes('not used'));
  assert.doesNotThrow(() => buildVaeDecoderGraph(withStray));
});

test('fp16 weights: a clear error without conversionCacheDir, float32 conversion with it', async () => {
  const dir = variantModel('fp16', (name, t) => [name, { dtype: 'F16', shape: t.shape, data: toHalf(t.data as Float32Array) }]);
  assert.throws(() => buildVaeDecoderGraph(dir), /is F16; pass conversionCacheDir/);
  const session = await cpuSession(buildVaeDecoderGraph(dir, { conversionCacheDir: join(tmp, 'conversion') }).graph);
  const { image } = await decode(session, 'dec24x40');
  // fp16 rounding of the weights (relative 5e-4) moves the output by about 1e-3.
  assertClose(image, golden.readFloat32('dec24x40.image'), 2e-2, 'fp16 dec24x40.image');
});

test('config errors name the field', () => {
  const dir = join(tmp, 'bad-config');
  mkdirSync(join(dir, 'vae'), { recursive: true });
  const config = JSON.parse(readFileSync(`${MODEL}/vae/config.json`, 'utf8'));
  writeFileSync(join(dir, 'vae', 'config.json'), JSON.stringify({ ...config, up_block_types: ['UpDecoderBlock2D'] }));
  assert.throws(() => buildVaeDecoderGraph(dir), /config\.json: field "up_block_types": has 1 entries, block_out_channels has 2/);
  writeFileSync(join(dir, 'vae', 'config.json'), JSON.stringify({ ...config, down_block_types: ['DownEncoderBlock2D', 'AttnDownEncoderBlock2D'] }));
  assert.throws(() => buildVaeEncoderGraph(dir), /field "down_block_types\.1"/);
});

test('tiny-sdlayout x8 VAE reproduces the TokenFlow z0 = 0.18215 * mean (tol 2e-4)', async (t) => {
  const data = SafetensorsFile.open(`${LAYOUT}/golden/vae_z0.safetensors`);
  const [n, h, w, c] = data.info('frames').shape as [number, number, number, number];
  const { graph, config } = buildVaeEncoderGraph(LAYOUT);
  assert.equal(config.norm_num_groups, 16);
  // ToTensor (/255, NHWC -> NCHW) and 2x - 1, in float32 as torch does it.
  const frames = data.readBytes('frames');
  const image = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          const v = Math.fround(frames[((b * h + y) * w + x) * c + ch]! / 255);
          image[((b * c + ch) * h + y) * w + x] = Math.fround(2 * v - 1);
        }
      }
    }
  }
  const out = await run(await cpuSession(graph), { image: new ort.Tensor('float32', image, [n, c, h, w]) });
  assert.deepEqual(out.mean!.dims, [n, 4, h / 8, w / 8]);
  const z0 = (out.mean!.data as Float32Array).map((m) => m * config.scaling_factor);
  const err = assertClose(z0, data.readFloat32('z0'), 2e-4, 'z0');
  t.diagnostic(`tiny-sdlayout z0 max abs error ${err.toExponential(2)}`);
});

/** float32 -> IEEE half (round to nearest even; subnormal halves flushed to zero, fine for weights). */
function toHalf(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const sign = (b >>> 16) & 0x8000;
    const exp = ((b >>> 23) & 0xff) - 127 + 15;
    if (exp <= 0) { out[i] = sign; continue; }
    if (exp >= 31) { out[i] = sign | 0x7c00; continue; }
    let half = sign | (exp << 10) | ((b >>> 13) & 0x3ff);
    const rest = b & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
    out[i] = half;
  }
  return out;
}
