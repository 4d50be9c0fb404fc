import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DDIMScheduler, ddimInversion, ddimSample, torchLinspaceF32 } from '../../companion/models/ddim.ts';
import { SafetensorsFile } from '../../companion/runtime/safetensors.ts';
import { assertClose, maxAbsDiff } from '../helpers/tensors.ts';

const MODEL = 'test/fixtures/tiny-sd15';
const golden = SafetensorsFile.open(`${MODEL}/golden/ddim.safetensors`);
const scalar = (name: string) => golden.readFloat32(name)[0]!;
const int = (name: string) => golden.readInts(name)[0]!;

/** Measured errors, printed at the end for the parity report. */
const measured: Record<string, number> = {};
const close = (got: ArrayLike<number>, name: string, tol: number) => {
  measured[name] = assertClose(got, golden.readFloat32(name), tol, name);
};

test('scheduler config: defaults are DDIMScheduler\'s, bad values name the field', async () => {
  const s = await DDIMScheduler.load(`${MODEL}/scheduler`);
  assert.equal(s.config.beta_schedule, 'scaled_linear');
  assert.equal(s.config.steps_offset, 1);
  assert.equal(s.config.set_alpha_to_one, false);
  const defaults = new DDIMScheduler({ _class_name: 'PNDMScheduler', skip_prk_steps: true });
  assert.equal(defaults.config.beta_schedule, 'linear');
  assert.equal(defaults.config.clip_sample, true);
  assert.equal(defaults.finalAlphaCumprod, 1);
  assert.throws(() => new DDIMScheduler({ beta_schedule: 'sigmoid' }, 'x/scheduler_config.json'),
    /x\/scheduler_config\.json: field "beta_schedule"/);
  assert.throws(() => new DDIMScheduler({ thresholding: true }), /thresholding.*not supported/);
  await assert.rejects(DDIMScheduler.load(`${MODEL}/nowhere`), /nowhere\/scheduler_config\.json: missing/);
});

test('alphas_cumprod and final_alpha_cumprod match diffusers (tol 5e-6; bit-exact expected)', async () => {
  const s = await DDIMScheduler.load(`${MODEL}/scheduler`);
  close(s.alphasCumprod, 'alphas_cumprod', 5e-6);
  close([s.finalAlphaCumprod], 'final_alpha_cumprod', 5e-6);
  assert.equal(maxAbsDiff(s.alphasCumprod, golden.readFloat32('alphas_cumprod')), 0, 'torch.linspace/cumprod emulation drifted');
});

test('set_timesteps: leading spacing + steps_offset, exact for 50/500/5 steps', async () => {
  const s = await DDIMScheduler.load(`${MODEL}/scheduler`);
  for (const n of [50, 500, 5]) assert.deepEqual(s.setTimesteps(n), golden.readInts(`timesteps_${n}`), `timesteps_${n}`);
  assert.deepEqual(s.setTimesteps(5), golden.readInts('chain.timesteps'));
  assert.throws(() => s.setTimesteps(0), /1\.\.1000/);
  assert.throws(() => s.setTimesteps(1001), /1\.\.1000/);
});

test('set_timesteps: trailing and linspace spacing (values from numpy, as diffusers computes them)', () => {
  const s = (spacing: string) => new DDIMScheduler({ timestep_spacing: spacing, steps_offset: 1 });
  assert.deepEqual(s('trailing').setTimesteps(7), [999, 856, 713, 570, 428, 285, 142]);
  assert.deepEqual(s('trailing').setTimesteps(3), [999, 666, 332]);
  assert.deepEqual(s('trailing').setTimesteps(50).slice(0, 6), [999, 979, 959, 939, 919, 899]);
  assert.deepEqual(s('linspace').setTimesteps(7), [999, 832, 666, 500, 333, 166, 0]);
  assert.deepEqual(s('linspace').setTimesteps(50).slice(0, 6), [999, 979, 958, 938, 917, 897]);
  assert.deepEqual(s('linspace').setTimesteps(1), [0]);
});

test('step (eta 0): prev_sample (tol 2e-5) and pred_original_sample (tol 2e-4)', async () => {
  const s = await DDIMScheduler.load(`${MODEL}/scheduler`);
  assert.throws(() => s.step(new Float32Array(1), 981, new Float32Array(1)), /setTimesteps/);
  s.setTimesteps(50);
  for (const k of [0, 1, 2]) {
    const t = int(`step${k}.timestep`);
    const out = s.step(golden.readFloat32(`step${k}.model_output`), t, golden.readFloat32(`step${k}.sample`));
    close(out.prevSample, `step${k}.prev_sample`, 2e-5);
    close(out.predOriginalSample, `step${k}.pred_original_sample`, 2e-4);
  }
});

test('TokenFlow inversion step: alphas (tol 5e-6) and out (tol 2e-5)', async () => {
  const s = await DDIMScheduler.load(`${MODEL}/scheduler`);
  const ascending = s.setTimesteps(50).slice().reverse();
  for (const k of [0, 1, 2]) {
    const i = int(`inv${k}.index`);
    const t = int(`inv${k}.timestep`);
    const tPrev = int(`inv${k}.timestep_prev`);
    assert.equal(t, ascending[i]);
    assert.equal(tPrev, i > 0 ? ascending[i - 1] : -1);
    close([s.alphaAt(t)], `inv${k}.alpha_prod_t`, 5e-6);
    close([s.alphaAt(tPrev)], `inv${k}.alpha_prod_t_prev`, 5e-6);
    const out = s.invertStep(golden.readFloat32(`inv${k}.eps`), t, tPrev, golden.readFloat32(`inv${k}.sample`));
    close(out, `inv${k}.out`, 2e-5);
  }
});

test('sampleStep undoes invertStep for the same eps; addNoise follows sqrt(a) x0 + sqrt(1 - a) noise', async () => {
  const s = await DDIMScheduler.load(`${MODEL}/scheduler`);
  const x = golden.readFloat32('inv1.sample');
  const eps = golden.readFloat32('inv1.eps');
  const up = s.invertStep(eps, 521, 501, x);
  assert.ok(maxAbsDiff(up, x) > 1e-3, 'inversion must change the latents');
  assert.ok(maxAbsDiff(s.sampleStep(eps, 521, 501, up), x) < 1e-5);
  // addNoise with per-item timesteps equals one call per item.
  const half = x.length / 2;
  const both = s.addNoise(x, eps, [981, 1]);
  const a0 = s.addNoise(x.subarray(0, half), eps.subarray(0, half), 981);
  const a1 = s.addNoise(x.subarray(half), eps.subarray(half), 1);
  assert.equal(maxAbsDiff(both, [...a0, ...a1]), 0);
  const a = s.alphaAt(981);
  assert.ok(Math.abs(a0[0]! - (Math.sqrt(a) * x[0]! + Math.sqrt(1 - a) * eps[0]!)) < 1e-6);
  assert.throws(() => s.addNoise(x, eps, [1, 2, 3]), /cannot be split into 3/);
  assert.throws(() => s.alphaAt(1000), /timestep 1000 is outside 0\.\.999/);
});

test('v_prediction and sample prediction recover x0 and epsilon', () => {
  const x0 = golden.readFloat32('step0.sample');
  const eps = golden.readFloat32('step0.model_output');
  for (const t of [981, 481, 1]) {
    const v = new DDIMScheduler({ prediction_type: 'v_prediction', clip_sample: false, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
    v.setTimesteps(50);
    const a = v.alphaAt(t);
    const xt = x0.map((x, i) => Math.sqrt(a) * x + Math.sqrt(1 - a) * eps[i]!);
    const vel = x0.map((x, i) => Math.sqrt(a) * eps[i]! - Math.sqrt(1 - a) * x);
    const out = v.step(vel, t, xt);
    assert.ok(maxAbsDiff(out.predOriginalSample, x0) < 2e-5, `v x0 at ${t}`);
    assert.ok(maxAbsDiff(v.toEpsilon(vel, t, xt), eps) < 2e-5, `v eps at ${t}`);
    const eStep = new DDIMScheduler({ prediction_type: 'epsilon', clip_sample: false, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
    eStep.setTimesteps(50);
    assert.ok(maxAbsDiff(out.prevSample, eStep.step(eps, t, xt).prevSample) < 1e-4, `v prev at ${t}`);
    const smp = new DDIMScheduler({ prediction_type: 'sample', clip_sample: false, beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
    assert.ok(maxAbsDiff(smp.toEpsilon(x0, t, xt), eps) < 1e-3, `sample eps at ${t}`);
  }
});

test('clip_sample clamps pred_original_sample to clip_sample_range', () => {
  const s = new DDIMScheduler({ clip_sample: true, clip_sample_range: 0.5 });
  s.setTimesteps(10);
  const out = s.step(Float32Array.of(0, 3, -3), 901, Float32Array.of(2, 0, 0));
  assert.deepEqual([...out.predOriginalSample].map((v) => Math.abs(v)), [0.5, 0.5, 0.5]);
});

test('other beta schedules: linear is torch.linspace, squaredcos_cap_v2 matches a numpy reference', () => {
  const lin = new DDIMScheduler({ beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02 });
  assert.ok(Math.abs(lin.alphasCumprod[0]! - 0.9999) < 1e-7);
  assert.deepEqual([...torchLinspaceF32(0, 1, 5)], [0, 0.25, 0.5, 0.75, 1]);
  const cos = new DDIMScheduler({ beta_schedule: 'squaredcos_cap_v2' });
  const want = [0.9999586939811707, 0.9999125599861145, 0.4922850430011749, 2.428766265438753e-06, 2.4287349909002387e-09];
  const got = [0, 1, 500, 998, 999].map((t) => cos.alphaAt(t));
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= Math.abs(want[i]!) * 1e-6, `t ${i}: ${got[i]} vs ${want[i]}`);
  const trained = new DDIMScheduler({ num_train_timesteps: 2, trained_betas: [0.5, 0.5] });
  assert.deepEqual([...trained.alphasCumprod], [0.5, 0.25]);
  assert.throws(() => new DDIMScheduler({ num_train_timesteps: 3, trained_betas: [0.5] }), /trained_betas has 1 values/);
});

test('ddimInversion / ddimSample walk the timesteps like TokenFlow (chain timesteps)', async () => {
  const s = await DDIMScheduler.load(`${MODEL}/scheduler`);
  s.setTimesteps(5);
  const x0 = golden.readFloat32('chain.latents');
  const noise = golden.readFloat32('inv0.eps').subarray(0, x0.length);
  // An x-independent "UNet" makes the walk exactly invertible, so sampling must return x0.
  const calls: string[] = [];
  const seen: number[] = [];
  const inverted = await ddimInversion(s, x0, async (_x, t) => (calls.push(`inv ${t}`), noise), (t) => { seen.push(t); });
  assert.deepEqual(seen, [1, 201, 401, 601, 801]);
  // With eps fixed, the composed inversion equals one move from final_alpha_cumprod to a_801.
  assert.ok(maxAbsDiff(inverted, s.invertStep(noise, 801, -1, x0)) < 1e-5);
  const back = await ddimSample(s, inverted, async (_x, t) => (calls.push(`smp ${t}`), noise));
  assert.deepEqual(calls.slice(5), ['smp 801', 'smp 601', 'smp 401', 'smp 201', 'smp 1']);
  assert.ok(maxAbsDiff(back, x0) < 1e-5, `reconstruction error ${maxAbsDiff(back, x0)}`);
});

after(() => console.log(`ddim max abs errors: ${JSON.stringify(measured)}`));
