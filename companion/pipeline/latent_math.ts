// Latent maths of the edit besides the DDIM step: reading rows of the latent store, the start
// latent (the noise estimate eps_hat re-noised to the first edit timestep) and the VAE's
// latent scaling. float32 op by op, as the reference computes them.
import type { DDIMScheduler } from '../models/ddim.ts';
import type { LatentStore } from './latent_store.ts';

const f32 = Math.fround;

/** Latents of the given store rows at `t` (or z0), in order; one read when the rows are all of them. */
export function readRows(store: LatentStore, t: number | 'z0', rows: readonly number[]): Float32Array {
  const read = (first: number, count: number) => (t === 'z0' ? store.readZ0(first, count) : store.read(t, first, count));
  if (rows.length === store.layout.frames && rows.every((r, i) => r === i)) return read(0, rows.length);
  const per = store.layout.channels * store.layout.height * store.layout.width;
  const out = new Float32Array(rows.length * per);
  rows.forEach((r, i) => out.set(read(r, 1), i * per));
  return out;
}

/** eps_hat from the store, then x at the first edit timestep (run_tokenflow_pnp.py:186-193, :257). */
export function startLatent(
  store: LatentStore, rows: readonly number[], noisiest: number, t0: number, scheduler: DDIMScheduler,
): { epsHat: Float32Array; x: Float32Array } {
  const z0 = readRows(store, 'z0', rows);
  const epsHat = noiseEstimate(store, rows, noisiest, z0, scheduler);
  return { epsHat, x: scheduler.addNoise(z0, epsHat, t0) };
}

/** eps_hat = (z_T - sqrt(a_T) z0) / sqrt(1 - a_T) from the noisiest stored latents, float32 op by op. */
function noiseEstimate(store: LatentStore, rows: readonly number[], noisiest: number, z0: Float32Array, scheduler: DDIMScheduler): Float32Array {
  const zT = readRows(store, noisiest, rows);
  const a = scheduler.alphaAt(noisiest);
  const mu = f32(Math.sqrt(a));
  const sigma = f32(Math.sqrt(f32(1 - a)));
  const out = new Float32Array(z0.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(zT[i]! - f32(mu * z0[i]!)) / sigma;
  return out;
}

/** Latents as the VAE decoder takes them: divided by the VAE's scaling factor, in place. */
export function unscaleLatents(latents: Float32Array, scalingFactor: number): Float32Array {
  const sf = f32(scalingFactor);
  for (let i = 0; i < latents.length; i++) latents[i] = latents[i]! / sf;
  return latents;
}
