// End-to-end parity of preprocessing + the 50-step edit + decode with the official TokenFlow
// run on tiny-sdlayout (test/fixtures/README.md, "tiny-sdlayout", tolerance table), through
// `tokenflow debug tokenflow` (golden frames, token ids, settings and keyframes in, the golden
// tensor names out). Also the inversion chained from the golden z0, and the UNet evaluation
// count against the spec's formula.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DDIMScheduler } from '../../companion/models/ddim.ts';
import { PlainUNet, readModelInfo } from '../../companion/pipeline/components.ts';
import { LatentStoreWriter } from '../../companion/pipeline/latent_store.ts';
import { invertLatents } from '../../companion/pipeline/preprocess.ts';
import { planSchedules } from '../../companion/pipeline/schedule.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';
import { compareFreeRunning, nearestNeighbourAgreement } from '../helpers/free_running_parity.ts';
import { GoldenParts } from '../helpers/golden_parts.ts';
import { assertClose } from '../helpers/tensors.ts';

const run = promisify(execFile);
const MODEL = fileURLToPath(new URL('../fixtures/tiny-sdlayout', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/tokenflow.mjs', import.meta.url));
const N = 16;
const FRAME = 4 * 16 * 16;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-parity-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('tokenflow debug tokenflow on the golden clip: z0, inverted latents, eps_hat, x_start, every x_steps, decoded; evaluation count', async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, 'ours.safetensors');
  const { stderr } = await run(process.execPath, [
    BIN, 'debug', 'tokenflow', '--model', MODEL, '--golden', path.join(MODEL, 'golden', 'tokenflow.safetensors'), '--out', out,
    '--cache-dir', path.join(dir, 'f32'),
  ], { maxBuffer: 16 * 1024 * 1024 });
  const golden = GoldenParts.open(path.join(MODEL, 'golden'), 'tokenflow');
  const ours = SafetensorsFile.open(out);

  // Exact: the inputs and index tensors round-trip.
  assert.deepEqual(ours.readBytes('frames'), golden.readBytes('frames'));
  for (const name of ['text.input_ids', 'timesteps', 'inverted.timesteps', 'pivots']) assert.deepEqual(ours.readInts(name), golden.readInts(name), name);
  assertClose(ours.readFloat32('text.embeds'), golden.readFloat32('text.embeds'), 2e-5, 'text.embeds');
  for (const name of ['z0', 'eps_hat', 'x_start']) assertClose(ours.readFloat32(name), golden.readFloat32(name), 2e-4, name);
  // Free-running inversion from our own z0: every saved step.
  assertClose(ours.readFloat32('inverted.latents'), golden.readFloat32('inverted.latents'), 2e-4, 'inverted.latents (free-running)');

  assert.equal(ours.readFloat32('x_steps').length, 51 * N * FRAME);
  const parity = compareFreeRunning(out, path.join(MODEL, 'golden'));
  assert.ok(parity.withinFreeRunningTolerances, JSON.stringify(parity));
  const { xSteps, decoded } = parity;
  t.diagnostic(`x_steps worst at step ${xSteps.worstStep}: max ${xSteps.max.toExponential(2)}, p99 ${xSteps.p99.toExponential(2)}; decoded max ${decoded.max.toExponential(2)}, p99 ${decoded.p99.toExponential(2)}`);

  // Spec section 10: S * 3 * (N + N/B) edit evaluations, steps * N for the inversion.
  const m = /UNet evaluations: inversion (\d+) in (\d+) calls, edit (\d+) in (\d+) calls/.exec(stderr);
  assert.ok(m, stderr);
  assert.equal(Number(m[1]), 50 * N);
  assert.equal(Number(m[3]), 50 * 3 * (N + N / 4));
  assert.equal(Number(m[4]), 50 * (1 + 4)); // one keyframe pass + 4 propagate passes per step
});

test('the free-running comparison: the golden against itself is within the bounds; one step off by 0.3 or a flipped index is found', (t) => {
  const dir = tempDir(t);
  const goldenDir = path.join(MODEL, 'golden');
  const golden = GoldenParts.open(goldenDir, 'tokenflow');
  const xSteps = golden.readFloat32('x_steps');
  const write = (x: Float32Array) => {
    const file = path.join(dir, 'ours.safetensors');
    writeSafetensors(file, [
      ['x_steps', { dtype: 'F32', shape: golden.info('x_steps').shape, data: x }],
      ['decoded', { dtype: 'F32', shape: golden.info('decoded').shape, data: golden.readFloat32('decoded') }],
    ]);
    return file;
  };
  const same = compareFreeRunning(write(xSteps), goldenDir);
  assert.deepEqual(same, {
    xSteps: { worstStep: 0, max: 0, p99: 0, steps: 51, stepsOutside: [] }, finalLatents: { max: 0, p99: 0 }, decoded: { max: 0, p99: 0 },
    withinFreeRunningTolerances: true,
  });
  const off = Float32Array.from(xSteps);
  off[37 * N * FRAME + 5]! += 0.3;
  const worse = compareFreeRunning(write(off), goldenDir);
  assert.deepEqual(worse.xSteps.stepsOutside, [37]);
  assert.equal(worse.xSteps.worstStep, 37);
  assert.ok(Math.abs(worse.xSteps.max - 0.3) < 1e-5, String(worse.xSteps.max));
  assert.equal(worse.withinFreeRunningTolerances, false);

  const step0 = GoldenParts.open(goldenDir, 'tokenflow_step0');
  const names = step0.names.filter((n) => /\.nn_(cur|prev)$/.test(n));
  const indices = names.map((n) => BigInt64Array.from(step0.readInts(n).map(BigInt)));
  indices[3]![7] = indices[3]![7]! + 1n;
  const step0File = path.join(dir, 'step0.safetensors');
  writeSafetensors(step0File, names.map((n, i): [string, TensorToWrite] => [n, { dtype: 'I64', shape: step0.info(n).shape, data: indices[i]! }]));
  const total = indices.reduce((s, a) => s + a.length, 0);
  assert.equal(total, 20208);
  assert.deepEqual(nearestNeighbourAgreement(step0File, goldenDir), { step: 0, equal: total - 1, total, share: (total - 1) / total });
});

test('DDIM inversion chained from the golden z0 matches inverted.latents at every saved step', async (t) => {
  const dir = tempDir(t);
  const golden = GoldenParts.open(path.join(MODEL, 'golden'), 'tokenflow');
  const scheduler = await DDIMScheduler.load(path.join(MODEL, 'scheduler'));
  const schedules = planSchedules(scheduler.config, 50, 50);
  const model = readModelInfo(MODEL);
  const layout = { frames: N, channels: 4, height: 16, width: 16, timesteps: schedules.saved };
  const writer = LatentStoreWriter.create(path.join(dir, 'store'), layout);
  writer.writeZ0(0, golden.readFloat32('z0'));
  const unet = await PlainUNet.load(MODEL, { providers: ['cpu'] });
  t.after(() => unet.release());
  const text = golden.readFloat32('text.embeds');
  const calls = await invertLatents({ unet, writer, layout, model, schedules, scheduler, sourceEmbedding: text.subarray(0, text.length / 3) });
  assert.deepEqual(calls, { unetCalls: 50, unetEvaluations: 800 }); // 16 frames fit one call per timestep
  const store = writer.finish();
  const want = golden.readFloat32('inverted.latents');
  const ts = golden.readInts('inverted.timesteps');
  assert.deepEqual(schedules.saved, ts, 'with 50 inversion steps the saved set is the edit schedule (noisiest = 981)');
  let worst = 0;
  ts.forEach((tt, i) => {
    worst = Math.max(worst, assertClose(store.read(tt), want.subarray(i * N * FRAME, (i + 1) * N * FRAME), 2e-4, `inverted.latents at t=${tt}`));
  });
  t.diagnostic(`chained inversion: max error ${worst.toExponential(2)} over 50 saved steps`);
});
