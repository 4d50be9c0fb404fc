// Every tiny-sd15 golden on the WebGPU provider (Vulkan; in CI Mesa's lavapipe), with the
// graphs built for it (MatMul + Add, attention fused in float16 and explicit in float32), in
// float32 and float16. No skip: a machine without a WebGPU adapter fails here, naming why.
//
// Measured max abs errors against the goldens (lavapipe, Mesa 25.0, ORT 1.30):
//   float32: text 1.8e-6, VAE mean/logvar 1.4e-6/1.5e-6, VAE image 2.3e-6, UNet 1.8e-5
//            (with MultiHeadAttention in float32 instead: text 1.9e-1, UNet 2.5e-3; providers.ts)
//   float16: text 9.6e-3, VAE mean/logvar 1.1e-2/1.2e-2, VAE image 1.3e-2, UNet 1.7e-2
//            (explicit attention instead of MultiHeadAttention: about the same, so it is the
//            float16 arithmetic, ~10x the CPU's float16 error, where ORT computes in float32)
// Bounds: float32 about 5x, float16 about 2.5x these.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTextEncoderGraph } from '../../companion/models/clip_text.ts';
import { buildUNetGraph } from '../../companion/models/unet_2d_condition.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from '../../companion/models/vae.ts';
import type { Graph, GraphDType } from '../../companion/runtime/graph.ts';
import { SafetensorsFile } from '../../companion/runtime/safetensors.ts';
import { createSession, run, ort } from '../../companion/runtime/session.ts';
import { assertClose } from '../helpers/tensors.ts';
import { prepareWebGpu } from '../helpers/webgpu.ts';

prepareWebGpu();
const MODEL = 'test/fixtures/tiny-sd15';
const TOL: Record<GraphDType, { text: number; vae: number; unet: number }> = {
  float32: { text: 1e-5, vae: 1e-5, unet: 1e-4 },
  float16: { text: 2.5e-2, vae: 3e-2, unet: 4e-2 },
};

const textGolden = SafetensorsFile.open(`${MODEL}/golden/text_encoder.safetensors`);
const vaeGolden = SafetensorsFile.open(`${MODEL}/golden/vae.safetensors`);
const unetGolden = SafetensorsFile.open(`${MODEL}/golden/unet.safetensors`);
const tensor = (file: SafetensorsFile, name: string) => new ort.Tensor('float32', file.readFloat32(name), file.info(name).shape);
const ints = (file: SafetensorsFile, name: string) => new ort.Tensor('int64', BigInt64Array.from(file.readInts(name).map(BigInt)), file.info(name).shape);

type Case = [feeds: Record<string, ort.Tensor>, want: Record<string, Float32Array>];

/** One WebGPU session for the graph, run on every case; returns the errors. */
async function check(what: string, graph: Graph, cases: Case[], tol: number): Promise<string[]> {
  const loaded = await createSession(graph, { providers: ['webgpu'] });
  assert.equal(loaded.provider, 'webgpu');
  const measured: string[] = [];
  try {
    for (const [feeds, want] of cases) {
      const out = await run(loaded, feeds);
      for (const [name, golden] of Object.entries(want)) {
        measured.push(`${name} ${assertClose(out[name]!.data as Float32Array, golden, tol, `${what} ${name}`).toExponential(2)}`);
      }
    }
  } finally {
    await loaded.session.release();
  }
  return measured;
}

for (const dtype of ['float32', 'float16'] as const) {
  test(`WebGPU ${dtype}: text encoder, VAE encode/decode and the three UNet cases match the goldens (tol ${JSON.stringify(TOL[dtype])})`, async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-webgpu-'));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const o = { provider: 'webgpu' as const, dtype, conversionCacheDir: join(tmp, 'conversion') };
    const tol = TOL[dtype];
    const measured = [
      ...await check('text encoder', buildTextEncoderGraph(MODEL, o).graph,
        [[{ input_ids: ints(textGolden, 'input_ids') }, { last_hidden_state: textGolden.readFloat32('last_hidden_state') }]], tol.text),
      ...await check('VAE encoder', buildVaeEncoderGraph(MODEL, o).graph, ['enc64x64', 'enc48x80'].map((c): Case =>
        [{ image: tensor(vaeGolden, `${c}.image`) }, { mean: vaeGolden.readFloat32(`${c}.mean`), logvar: vaeGolden.readFloat32(`${c}.logvar`) }]), tol.vae),
      ...await check('VAE decoder', buildVaeDecoderGraph(MODEL, o).graph, ['dec32x32', 'dec24x40'].map((c): Case =>
        [{ latents: tensor(vaeGolden, `${c}.latents`) }, { image: vaeGolden.readFloat32(`${c}.image`) }]), tol.vae),
      ...await check('UNet', buildUNetGraph(MODEL, o).graph, ['case1', 'case2', 'case3'].map((c): Case => [
        { sample: tensor(unetGolden, `${c}.sample`), timestep: ints(unetGolden, `${c}.timestep`), encoder_hidden_states: tensor(unetGolden, `${c}.encoder_hidden_states`) },
        { out: unetGolden.readFloat32(`${c}.out`) },
      ]), tol.unet),
    ];
    t.diagnostic(`WebGPU ${dtype} max abs errors: ${measured.join(', ')}`);
  });
}
