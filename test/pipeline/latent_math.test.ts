// The edit's latent maths (latent_math.ts) on the golden run of tiny-sdlayout: the start latent
// from the stored z0 and noisiest latents, rows read in any order, the VAE's latent scaling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRows, startLatent, unscaleLatents } from '../../companion/pipeline/latent_math.ts';
import { LatentStoreWriter, type LatentStore } from '../../companion/pipeline/latent_store.ts';
import { resolveEditSchedule } from '../../companion/pipeline/schedule.ts';
import { GoldenParts } from '../helpers/golden_parts.ts';
import { maxAbsDiff } from '../helpers/tensors.ts';

const MODEL = fileURLToPath(new URL('../fixtures/tiny-sdlayout', import.meta.url));
const N = 16;
const FRAME = 4 * 16 * 16;

/** A store of the golden z0 and inverted latents (the 50 edit timesteps, noisiest first). */
function goldenStore(t: { after(fn: () => void): void }, golden: GoldenParts): LatentStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-math-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const timesteps = golden.readInts('inverted.timesteps');
  const inverted = golden.readFloat32('inverted.latents');
  const writer = LatentStoreWriter.create(path.join(dir, 'store'), { frames: N, channels: 4, height: 16, width: 16, timesteps });
  writer.writeZ0(0, golden.readFloat32('z0'));
  timesteps.forEach((ts, i) => writer.writeTimestep(ts, 0, inverted.subarray(i * N * FRAME, (i + 1) * N * FRAME)));
  return writer.finish();
}

test('the start latent from the golden z0 and noisiest latents is the golden eps_hat and x_start, bit for bit', async (t) => {
  const golden = GoldenParts.open(path.join(MODEL, 'golden'), 'tokenflow');
  const store = goldenStore(t, golden);
  const { scheduler, schedules } = await resolveEditSchedule(MODEL, 50, 50);
  const all = Array.from({ length: N }, (_, i) => i);
  const { epsHat, x } = startLatent(store, all, schedules.noisiest, schedules.edit[0]!, scheduler);
  assert.equal(maxAbsDiff(epsHat, golden.readFloat32('eps_hat')), 0);
  assert.equal(maxAbsDiff(x, golden.readFloat32('x_start')), 0);
});

test('rows are read in the order asked, z0 or a timestep; unscaling divides in place', (t) => {
  const golden = GoldenParts.open(path.join(MODEL, 'golden'), 'tokenflow');
  const store = goldenStore(t, golden);
  const z0 = golden.readFloat32('z0');
  const frame = (a: Float32Array, i: number) => a.subarray(i * FRAME, (i + 1) * FRAME);
  const picked = readRows(store, 'z0', [3, 0, 2]);
  assert.equal(picked.length, 3 * FRAME);
  [3, 0, 2].forEach((row, i) => assert.deepEqual(frame(picked, i), frame(z0, row)));
  assert.deepEqual(readRows(store, 961, [5]), frame(golden.readFloat32('inverted.latents'), N + 5));
  const latents = Float32Array.of(1, -2, 0.5);
  assert.equal(unscaleLatents(latents, 0.5), latents);
  assert.deepEqual(latents, Float32Array.of(2, -4, 1));
});
