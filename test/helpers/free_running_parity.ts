// The free-running comparison of a `tokenflow debug tokenflow` output with tiny-sdlayout's golden
// run (test/fixtures/README.md, "tiny-sdlayout", tolerance table: free-running rows). One place
// for the bounds: the CPU parity test (test/pipeline/edit_clip_parity.test.ts) asserts the
// verdict, the GPU check (bench/gpu.ts) reports it per provider and precision.
import { SafetensorsFile } from '../../companion/runtime/safetensors.ts';
import { GoldenParts } from './golden_parts.ts';

/** The README's free-running bounds: every `x_steps[s]` and the final latents, and `decoded`. */
export const FREE_RUNNING_TOLERANCES = {
  latents: { max: 0.25, p99: 0.05 },
  decoded: { max: 0.06, p99: 0.01 },
} as const;

export interface ErrorStats {
  max: number;
  p99: number;
}

export interface FreeRunningParity {
  /** The worst step of `x_steps` (by max) and the steps outside the bounds. */
  xSteps: ErrorStats & { worstStep: number; steps: number; stepsOutside: number[] };
  /** `x_steps[last]`, the latents that are decoded. */
  finalLatents: ErrorStats;
  decoded: ErrorStats;
  /**
   * Step 0's nearest-neighbour indices against the golden's, where the run wrote `--step0-out`:
   * the golden keeps indices of step 0 only, so this is reported, not part of the verdict (the
   * README's bound is over all 50 steps).
   */
  nearestNeighbours?: { step: 0; equal: number; total: number; share: number };
  withinFreeRunningTolerances: boolean;
}

/** max |a - b| and its 99th percentile; NaN anywhere gives NaN (outside every bound). */
export function errorStats(a: Float32Array, b: Float32Array): ErrorStats {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  const d = Float64Array.from(a, (v, i) => Math.abs(v - b[i]!));
  if (d.some((v) => Number.isNaN(v))) return { max: NaN, p99: NaN };
  d.sort();
  return { max: d[d.length - 1]!, p99: d[Math.min(d.length - 1, Math.floor(0.99 * d.length))]! };
}

const within = (e: ErrorStats, bound: ErrorStats) => e.max <= bound.max && e.p99 <= bound.p99;

/**
 * Compares `ours` (a `debug tokenflow --out` file) with `<goldenDir>/tokenflow.part*.safetensors`,
 * and, given `step0` (its `--step0-out` file), step 0's nearest-neighbour indices with
 * `tokenflow_step0.part*`.
 */
export function compareFreeRunning(ours: string, goldenDir: string, step0?: string): FreeRunningParity {
  const golden = GoldenParts.open(goldenDir, 'tokenflow');
  const file = SafetensorsFile.open(ours);
  const shape = golden.info('x_steps').shape;
  const [steps] = shape as [number];
  const ourShape = file.info('x_steps').shape;
  if (ourShape.join() !== shape.join()) throw new Error(`${ours}: x_steps is [${ourShape}], the golden's [${shape}]`);
  const oursX = file.readFloat32('x_steps');
  const goldX = golden.readFloat32('x_steps');
  const size = oursX.length / steps;
  const bound = FREE_RUNNING_TOLERANCES.latents;
  let worst = { worstStep: -1, max: -1, p99: -1 };
  const stepsOutside: number[] = [];
  let last: ErrorStats = { max: NaN, p99: NaN };
  for (let s = 0; s < steps; s++) {
    last = errorStats(oursX.subarray(s * size, (s + 1) * size), goldX.subarray(s * size, (s + 1) * size));
    if (!within(last, bound)) stepsOutside.push(s);
    if (!(last.max <= worst.max)) worst = { worstStep: s, ...last };
  }
  const decoded = errorStats(file.readFloat32('decoded'), golden.readFloat32('decoded'));
  return {
    xSteps: { ...worst, steps, stepsOutside },
    finalLatents: last,
    decoded,
    ...(step0 ? { nearestNeighbours: nearestNeighbourAgreement(step0, goldenDir) } : {}),
    withinFreeRunningTolerances: stepsOutside.length === 0 && within(decoded, FREE_RUNNING_TOLERANCES.decoded),
  };
}

/** Equal `b<i>.<block>.nn_cur|nn_prev` indices of a `--step0-out` file, over all the golden's. */
export function nearestNeighbourAgreement(step0: string, goldenDir: string): NonNullable<FreeRunningParity['nearestNeighbours']> {
  const golden = GoldenParts.open(goldenDir, 'tokenflow_step0');
  const file = SafetensorsFile.open(step0);
  let equal = 0;
  let total = 0;
  for (const name of golden.names.filter((n) => /\.nn_(cur|prev)$/.test(n))) {
    const want = golden.readInts(name);
    const got = file.readInts(name);
    if (got.length !== want.length) throw new Error(`${step0}: ${name} has ${got.length} indices, the golden ${want.length}`);
    equal += got.filter((v, i) => v === want[i]).length;
    total += want.length;
  }
  if (total === 0) throw new Error(`${goldenDir}: the golden step 0 has no nearest-neighbour indices`);
  return { step: 0, equal, total, share: equal / total };
}
