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
import { SafetensorsFile } from '../../companion/runtime/safetensors.ts';
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

/** max |a - b| and its 99th percentile. */
function errors(a: Float32Array, b: Float32Array): { max: number; p99: number } {
  assert.equal(a.length, b.length);
  const d = Float64Array.from(a, (v, i) => Math.abs(v - b[i]!));
  if (d.some((v) => Number.isNaN(v))) return { max: NaN, p99: NaN };
  d.sort();
  return { max: d[d.length - 1]!, p99: d[Math.min(d.length - 1, Math.floor(0.99 * d.length))]! };
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

  const oursX = ours.readFloat32('x_steps');
  const goldX = golden.readFloat32('x_steps');
  assert.equal(oursX.length, 51 * N * FRAME);
  let worst = { step: -1, max: 0, p99: 0 };
  for (let s = 0; s <= 50; s++) {
    const e = errors(oursX.subarray(s * N * FRAME, (s + 1) * N * FRAME), goldX.subarray(s * N * FRAME, (s + 1) * N * FRAME));
    assert.ok(e.max <= 0.25 && e.p99 <= 0.05, `x_steps[${s}]: max ${e.max}, p99 ${e.p99}`);
    if (!(e.max <= worst.max)) worst = { step: s, ...e };
  }
  const decoded = errors(ours.readFloat32('decoded'), golden.readFloat32('decoded'));
  assert.ok(decoded.max <= 0.06 && decoded.p99 <= 0.01, `decoded: max ${decoded.max}, p99 ${decoded.p99}`);
  t.diagnostic(`x_steps worst at step ${worst.step}: max ${worst.max.toExponential(2)}, p99 ${worst.p99.toExponential(2)}; decoded max ${decoded.max.toExponential(2)}, p99 ${decoded.p99.toExponential(2)}`);

  // Spec section 10: S * 3 * (N + N/B) edit evaluations, steps * N for the inversion.
  const m = /UNet evaluations: inversion (\d+) in (\d+) calls, edit (\d+) in (\d+) calls/.exec(stderr);
  assert.ok(m, stderr);
  assert.equal(Number(m[1]), 50 * N);
  assert.equal(Number(m[3]), 50 * 3 * (N + N / 4));
  assert.equal(Number(m[4]), 50 * (1 + 4)); // one keyframe pass + 4 propagate passes per step
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
