// diffusers DDIMScheduler (0.27), deterministic (eta = 0), plus the two update rules of
// TokenFlow's preprocess.py (`ddim_inversion`, `ddim_sample`). Pure TypeScript on Float32Array,
// with float32 rounding after every operation PyTorch performs in float32, so the results are
// bit-identical to the reference (arxiv.org/abs/2010.02502, eq. 12 with sigma = 0).
// https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/schedulers/scheduling_ddim.py
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

const f32 = Math.fround;

/**
 * `scheduler_config.json`, field names verbatim; defaults are DDIMScheduler's own, because
 * TokenFlow builds a DDIMScheduler from whatever scheduler config the model ships (SD 1.5
 * ships a PNDMScheduler config). Unknown fields (`_class_name`, `skip_prk_steps`, ...) are ignored.
 */
export const ddimConfigSchema = z.object({
  num_train_timesteps: z.number().int().positive().default(1000),
  beta_start: z.number().positive().default(0.0001),
  beta_end: z.number().positive().default(0.02),
  beta_schedule: z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2']).default('linear'),
  trained_betas: z.array(z.number()).nullable().default(null),
  clip_sample: z.boolean().default(true),
  clip_sample_range: z.number().positive().default(1),
  set_alpha_to_one: z.boolean().default(true),
  steps_offset: z.number().int().nonnegative().default(0),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
  timestep_spacing: z.enum(['leading', 'trailing', 'linspace']).default('leading'),
  thresholding: z.literal(false, { message: 'dynamic thresholding is not supported' }).default(false),
  rescale_betas_zero_snr: z.literal(false, { message: 'zero-terminal-SNR rescaling is not supported' }).default(false),
});
export type DDIMConfig = z.infer<typeof ddimConfigSchema>;

export interface StepOutput {
  /** x_{t-1}: the sample at the previous (less noisy) timestep. */
  prevSample: Float32Array;
  /** The model's estimate of x_0 at this step. */
  predOriginalSample: Float32Array;
}

/**
 * float32 `torch.linspace(start, end, n)` as PyTorch 1.13's CPU kernel computes it, so that
 * `alphas_cumprod` is bit-identical: the first half counts up from `start`, the second half
 * down from `end`; full 8-wide vector chunks (all but the last n % 16 values) are
 * `base + k * step` from the chunk's first value; every `a + b * c` is one fused multiply-add
 * (one rounding: exact in double here, then rounded). The naive formula is off by up to 1 ulp.
 */
export function torchLinspaceF32(start: number, end: number, n: number): Float32Array {
  const [s, e] = [f32(start), f32(end)];
  if (n === 1) return Float32Array.of(s);
  const step = f32(f32(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  const scalar = (i: number) => (i < half ? f32(s + step * i) : f32(e - step * (n - i - 1)));
  const width = 8;
  const vectorEnd = n - (n % (2 * width));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const base = i - (i % width);
    out[i] = i < vectorEnd ? f32(scalar(base) + step * (i - base)) : scalar(i);
  }
  return out;
}

/** float32 betas for the configured schedule. */
function betasFor(config: DDIMConfig): Float32Array {
  const n = config.num_train_timesteps;
  if (config.trained_betas) {
    if (config.trained_betas.length !== n) {
      throw new Error(`trained_betas has ${config.trained_betas.length} values, num_train_timesteps is ${n}`);
    }
    return Float32Array.from(config.trained_betas);
  }
  switch (config.beta_schedule) {
    case 'linear':
      return torchLinspaceF32(config.beta_start, config.beta_end, n);
    case 'scaled_linear':
      // Latent diffusion's schedule: linear in sqrt(beta), squared in float32.
      return torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((b) => b * b);
    case 'squaredcos_cap_v2': {
      // Improved DDPM's cosine schedule, computed in float64 and then stored as float32.
      const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
      return Float32Array.from({ length: n }, (_, i) => Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
    }
  }
}

/** `cumprod(1 - betas)`: torch's CPU cumprod accumulates float32 inputs in double. */
export function alphasCumprodOf(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= f32(1 - betas[i]);
    out[i] = product;
  }
  return out;
}

/** numpy's round (half to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `x0 = (x - sqrt(1 - a) * eps) / sqrt(a)`, float32 op by op. */
export function predictOriginal(x: Float32Array, eps: Float32Array, alpha: number): Float32Array {
  const mu = f32(Math.sqrt(alpha));
  const sigma = f32(Math.sqrt(f32(1 - alpha)));
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32(x[i] - f32(sigma * eps[i])) / mu;
  return out;
}

/** `sqrt(a) * x0 + sqrt(1 - a) * eps`: the noisy sample at cumulative alpha `a`. */
export function combine(x0: Float32Array, eps: Float32Array, alpha: number): Float32Array {
  const mu = f32(Math.sqrt(alpha));
  const sigma = f32(Math.sqrt(f32(1 - alpha)));
  const out = new Float32Array(x0.length);
  for (let i = 0; i < x0.length; i++) out[i] = f32(mu * x0[i]) + f32(sigma * eps[i]);
  return out;
}

/** One deterministic DDIM move of `x` from cumulative alpha `alphaFrom` to `alphaTo` with the
 * noise estimate `eps`; the same rule serves sampling (alpha grows) and inversion (alpha shrinks). */
export function ddimMove(x: Float32Array, eps: Float32Array, alphaFrom: number, alphaTo: number): Float32Array {
  checkSameLength(x, eps);
  return combine(predictOriginal(x, eps, alphaFrom), eps, alphaTo);
}

function checkSameLength(a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new Error(`DDIM: tensors differ in size (${a.length} vs ${b.length} values)`);
}

export class DDIMScheduler {
  readonly config: DDIMConfig;
  /** float32 `alphas_cumprod`, indexed by training timestep. */
  readonly alphasCumprod: Float32Array;
  /** Cumulative alpha "before" timestep 0: 1, or `alphas_cumprod[0]` when set_alpha_to_one is false. */
  readonly finalAlphaCumprod: number;
  /** Inference timesteps, noisiest first (set by `setTimesteps`). */
  timesteps: number[] = [];
  numInferenceSteps = 0;

  /** Reads `<dir>/scheduler_config.json` (`dir` is the model's `scheduler/` folder). */
  static async load(dir: string): Promise<DDIMScheduler> {
    const file = path.join(dir, 'scheduler_config.json');
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(`${file}: ${missing ? 'missing' : `not valid JSON (${(err as Error).message})`}`);
    }
    return new DDIMScheduler(raw, file);
  }

  /** `source` names the config in error messages. */
  constructor(rawConfig: unknown, source = 'scheduler config') {
    const parsed = ddimConfigSchema.safeParse(rawConfig);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${source}: field "${issue.path.join('.')}": ${issue.message}`);
    }
    this.config = parsed.data;
    this.alphasCumprod = alphasCumprodOf(betasFor(this.config));
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  /** Chooses `n` inference timesteps (noisiest first) by the configured spacing. */
  setTimesteps(n: number): number[] {
    const N = this.config.num_train_timesteps;
    if (!Number.isInteger(n) || n < 1 || n > N) {
      throw new Error(`DDIM: number of inference steps must be an integer in 1..${N}, got ${n}`);
    }
    let timesteps: number[];
    switch (this.config.timestep_spacing) {
      case 'leading': {
        const ratio = Math.floor(N / n);
        timesteps = Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + this.config.steps_offset);
        break;
      }
      case 'trailing': {
        const ratio = N / n;
        const count = Math.ceil(N / ratio);
        timesteps = Array.from({ length: count }, (_, i) => roundHalfEven(N - i * ratio) - 1);
        break;
      }
      case 'linspace': {
        const step = (N - 1) / (n - 1 || 1);
        timesteps = Array.from({ length: n }, (_, i) => roundHalfEven(i === n - 1 && n > 1 ? N - 1 : i * step)).reverse();
        break;
      }
    }
    this.numInferenceSteps = n;
    this.timesteps = timesteps;
    return timesteps;
  }

  /** `alphas_cumprod[t]`, or `final_alpha_cumprod` for t < 0 (the step past the last one). */
  alphaAt(t: number): number {
    if (t < 0) return this.finalAlphaCumprod;
    if (!Number.isInteger(t) || t >= this.alphasCumprod.length) {
      throw new Error(`DDIM: timestep ${t} is outside 0..${this.alphasCumprod.length - 1}`);
    }
    return this.alphasCumprod[t];
  }

  /** diffusers `step(model_output, t, sample, eta=0)`: from timestep t to t - N / steps. */
  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    if (this.numInferenceSteps === 0) throw new Error('DDIM: call setTimesteps() before step()');
    checkSameLength(modelOutput, sample);
    const prevT = t - Math.floor(this.config.num_train_timesteps / this.numInferenceSteps);
    const alpha = this.alphaAt(t);
    let { predOriginalSample, predEpsilon } = this.predictions(modelOutput, sample, alpha);
    if (this.config.clip_sample) {
      const r = this.config.clip_sample_range;
      predOriginalSample = predOriginalSample.map((v) => Math.min(Math.max(v, -r), r));
    }
    return { prevSample: combine(predOriginalSample, predEpsilon, this.alphaAt(prevT)), predOriginalSample };
  }

  /** The noise estimate epsilon implied by a model output at timestep t, whatever the
   * configured prediction_type (what the TokenFlow rules below expect). */
  toEpsilon(modelOutput: Float32Array, t: number, sample: Float32Array): Float32Array {
    checkSameLength(modelOutput, sample);
    return this.predictions(modelOutput, sample, this.alphaAt(t)).predEpsilon;
  }

  /**
   * TokenFlow's `ddim_inversion` step (ascending timesteps): moves the latents `x` of timestep
   * `tPrev` (-1 for the clean latents) to timestep `t`, with `eps = unet(x, t)`.
   */
  invertStep(eps: Float32Array, t: number, tPrev: number, x: Float32Array): Float32Array {
    return ddimMove(x, eps, this.alphaAt(tPrev), this.alphaAt(t));
  }

  /**
   * TokenFlow's `ddim_sample` step (descending timesteps): moves `x` from timestep `t` to the
   * next listed timestep `tNext` (-1 after the last), with `eps = unet(x, t)`.
   */
  sampleStep(eps: Float32Array, t: number, tNext: number, x: Float32Array): Float32Array {
    return ddimMove(x, eps, this.alphaAt(t), this.alphaAt(tNext));
  }

  /**
   * diffusers `add_noise`: `sqrt(a_t) * x0 + sqrt(1 - a_t) * noise`. `t` is one timestep, or one
   * per batch item (the batch is the leading dimension, split evenly).
   */
  addNoise(x0: Float32Array, noise: Float32Array, t: number | readonly number[]): Float32Array {
    checkSameLength(x0, noise);
    const ts = typeof t === 'number' ? [t] : t;
    if (ts.length === 0 || x0.length % ts.length !== 0) {
      throw new Error(`DDIM: ${x0.length} values cannot be split into ${ts.length} batch items`);
    }
    const per = x0.length / ts.length;
    const out = new Float32Array(x0.length);
    ts.forEach((ti, b) => {
      const range = [b * per, (b + 1) * per] as const;
      out.set(combine(x0.subarray(...range), noise.subarray(...range), this.alphaAt(ti)), b * per);
    });
    return out;
  }

  /** x0 and epsilon estimates from a model output, per prediction_type. */
  private predictions(modelOutput: Float32Array, sample: Float32Array, alpha: number) {
    const mu = f32(Math.sqrt(alpha));
    const sigma = f32(Math.sqrt(f32(1 - alpha)));
    switch (this.config.prediction_type) {
      case 'epsilon':
        return { predOriginalSample: predictOriginal(sample, modelOutput, alpha), predEpsilon: modelOutput };
      case 'sample': {
        const predEpsilon = new Float32Array(sample.length);
        for (let i = 0; i < sample.length; i++) predEpsilon[i] = f32(sample[i] - f32(mu * modelOutput[i])) / sigma;
        return { predOriginalSample: modelOutput, predEpsilon };
      }
      case 'v_prediction': {
        const predOriginalSample = new Float32Array(sample.length);
        const predEpsilon = new Float32Array(sample.length);
        for (let i = 0; i < sample.length; i++) {
          predOriginalSample[i] = f32(mu * sample[i]) - f32(sigma * modelOutput[i]);
          predEpsilon[i] = f32(mu * modelOutput[i]) + f32(sigma * sample[i]);
        }
        return { predOriginalSample, predEpsilon };
      }
    }
  }
}

/** The noise prediction `unet(x, t, cond)` for latents `x` at timestep `t` (batching and
 * conditioning are the caller's business). */
export type PredictEpsilon = (x: Float32Array, t: number) => Promise<Float32Array>;

/**
 * TokenFlow's `ddim_inversion`: walks the clean latents up through the scheduler's timesteps
 * (set by `setTimesteps`) in ascending order; `onLatents` sees the latents reached at each t.
 */
export async function ddimInversion(
  scheduler: DDIMScheduler,
  latents: Float32Array,
  predictEpsilon: PredictEpsilon,
  onLatents?: (t: number, x: Float32Array) => void | Promise<void>,
): Promise<Float32Array> {
  const ascending = scheduler.timesteps.slice().reverse();
  let x = latents;
  for (let i = 0; i < ascending.length; i++) {
    const t = ascending[i];
    x = scheduler.invertStep(await predictEpsilon(x, t), t, i > 0 ? ascending[i - 1] : -1, x);
    await onLatents?.(t, x);
  }
  return x;
}

/** TokenFlow's `ddim_sample`: walks noisy latents down through the scheduler's timesteps to x_0. */
export async function ddimSample(
  scheduler: DDIMScheduler,
  latents: Float32Array,
  predictEpsilon: PredictEpsilon,
): Promise<Float32Array> {
  const ts = scheduler.timesteps;
  let x = latents;
  for (let i = 0; i < ts.length; i++) {
    x = scheduler.sampleStep(await predictEpsilon(x, ts[i]), ts[i], i + 1 < ts.length ? ts[i + 1] : -1, x);
  }
  return x;
}
