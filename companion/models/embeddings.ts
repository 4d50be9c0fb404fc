// diffusers models/embeddings.py: Timesteps (get_timestep_embedding) and TimestepEmbedding.
import type { Graph, Value } from '../runtime/graph.ts';
import { linear, silu } from '../runtime/nn.ts';
import type { Weights } from '../runtime/weights.ts';

/**
 * The sinusoid frequencies exp(-ln(10000) * i / (half - downscaleFreqShift)), i < half, rounded
 * step by step to float32 as torch computes them in float32 (a frequency one ulp off moves
 * sin(t f) by ~6e-5 at t = 981, more than the parity tolerance allows).
 */
export function timestepFrequencies(numChannels: number, downscaleFreqShift: number, maxPeriod = 10000): Float32Array {
  const half = Math.floor(numChannels / 2);
  const negLog = Math.fround(-Math.log(maxPeriod));
  const divisor = Math.fround(half - downscaleFreqShift);
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = Math.fround(Math.fround(negLog * i) / divisor);
    freqs[i] = Math.exp(exponent);
  }
  return freqs;
}

/**
 * Timesteps: timesteps [B] (int64) -> [B, numChannels] float, as get_timestep_embedding:
 * [sin(t f), cos(t f)], swapped to [cos, sin] when flipSinToCos, zero-padded when odd.
 */
export function timesteps(
  g: Graph, t: Value, numChannels: number, opts: { flipSinToCos: boolean; downscaleFreqShift: number; name?: string },
): Value {
  const name = opts.name ?? 'time_proj';
  const freqs = timestepFrequencies(numChannels, opts.downscaleFreqShift);
  const tf = g.node('Unsqueeze', [g.node('Cast', [t], { to: 1 /* FLOAT */ }, { name }), g.ints([1])], {}, { name }); // [B, 1]
  const args = g.node('Mul', [tf, g.constant(freqs, 'float32', [1, freqs.length])], {}, { name }); // [B, half]
  const sin = g.node('Sin', [args], {}, { name });
  const cos = g.node('Cos', [args], {}, { name });
  const parts = opts.flipSinToCos ? [cos, sin] : [sin, cos];
  if (numChannels % 2 === 1) parts.push(g.node('Mul', [g.node('Slice', [args, g.ints([0]), g.ints([1]), g.ints([1])], {}, { name }), g.scalar(0)], {}, { name }));
  return g.node('Concat', parts, { axis: 1 }, { name }); // [B, numChannels]
}

/** TimestepEmbedding: linear_1 -> SiLU -> linear_2 (no condition projection, no post-activation). */
export function timestepEmbedding(g: Graph, w: Weights, sample: Value, inChannels: number, timeEmbedDim: number): Value {
  const h = silu(g, linear(g, w.pp('linear_1'), sample, inChannels, timeEmbedDim), w.path);
  return linear(g, w.pp('linear_2'), h, timeEmbedDim, timeEmbedDim);
}
