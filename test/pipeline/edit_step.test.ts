// The edit step beyond the reference's shapes: a shorter last batch, a non-square latent, the
// keyframe window, the keyframes-only step, cancellation, progress and the evaluation count.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { DDIMScheduler } from '../../companion/models/ddim.ts';
import { blendWeights } from '../../companion/pipeline/blend.ts';
import { TokenFlowEditor, evaluationsPerStep, injectionSchedule, type DebugTensor, type EditStepArgs, type UNetCallInfo } from '../../companion/pipeline/edit_step.ts';
import { drawPivots } from '../../companion/pipeline/pivots.ts';
import { GoldenParts } from '../helpers/golden_parts.ts';

const MODEL = fileURLToPath(new URL('../fixtures/tiny-sdlayout', import.meta.url));

let editor: TokenFlowEditor;
let golden: GoldenParts;
let embeds: EditStepArgs['embeds'];
let schedulerConfig: DDIMScheduler['config'];

/** The model's scheduler set to `steps` timesteps, as an edit resolves it. */
function schedulerFor(steps: number): DDIMScheduler {
  const scheduler = new DDIMScheduler(schedulerConfig);
  scheduler.setTimesteps(steps);
  return scheduler;
}

before(async () => {
  golden = GoldenParts.open(`${MODEL}/golden`, 'tokenflow');
  editor = await TokenFlowEditor.load(MODEL, { providers: ['cpu'], debug: true });
  schedulerConfig = (await DDIMScheduler.load(`${MODEL}/scheduler`)).config;
  const text = golden.readFloat32('text.embeds');
  const per = text.length / 3;
  embeds = { src: text.subarray(0, per), unc: text.subarray(per, 2 * per), cnd: text.subarray(2 * per) };
});

after(async () => {
  await editor?.release();
});

/** Smooth pseudo-latents [n, 4, h, w] of unit-ish scale. */
function latents(n: number, h: number, w: number, seed: number): Float32Array {
  return Float32Array.from({ length: n * 4 * h * w }, (_, i) => Math.sin(i * 0.37 + seed) + 0.3 * Math.cos(i * 0.011 * seed));
}

/** Golden step-0 latents of the first n frames (16x16). */
function goldenFrames(name: 'x_steps' | 'inverted.latents', n: number): Float32Array {
  return golden.readFloat32(name).slice(0, n * 4 * 16 * 16);
}

function args(x: Float32Array, src: Float32Array, n: number, h: number, w: number, batchSize: number, pivots: number[]): EditStepArgs {
  return {
    x, srcLatents: src, shape: { n, h, w }, t: 981, stepIndex: 0, steps: 50, scheduler: schedulerFor(50), pivots,
    embeds, guidance_scale: 7.5, batch_size: batchSize, pnp_attn_t: 0.5, pnp_f_t: 0.8,
  };
}

/**
 * The propagated attention of batch b obeys out = w(f) A_cur[nn_cur] + (1 - w(f)) A_prev[nn_prev]
 * against the keyframe records of the same step; returns the largest deviation.
 */
function blendDeviation(debug: Map<string, DebugTensor>, block: string, b: number, weights: Float32Array): number {
  const kfA = debug.get(`kf.${block}.A`)!;
  const [, K, T, D] = kfA.dims as [number, number, number, number];
  const attn = debug.get(`b${b}.${block}.attn`)!.data as Float32Array;
  const nnCur = debug.get(`b${b}.${block}.nn_cur`)!.data as BigInt64Array;
  const nnPrev = debug.get(`b${b}.${block}.nn_prev`)!.data as BigInt64Array;
  const A = kfA.data as Float32Array;
  const frames = weights.length;
  let worst = 0;
  for (let br = 0; br < 3; br++) {
    for (let f = 0; f < frames; f++) {
      for (let t = 0; t < T; t++) {
        const row = f * T + t;
        const cur = ((br * K + b) * T + Number(nnCur[row])) * D;
        const prev = ((br * K + b - 1) * T + Number(nnPrev[row])) * D;
        const out = ((br * frames + f) * T + t) * D;
        for (let c = 0; c < D; c++) {
          const want = weights[f]! * A[cur + c]! + (1 - weights[f]!) * A[prev + c]!;
          worst = Math.max(worst, Math.abs(attn[out + c]! - want));
        }
      }
    }
  }
  return worst;
}

test('injection schedules: the first trunc(S * fraction) steps', () => {
  const on = (f: (s: number) => boolean) => Array.from({ length: 50 }, (_, s) => s).filter(f);
  assert.deepEqual(on((s) => injectionSchedule(s, 50, 0.5, 0.8).qk), Array.from({ length: 25 }, (_, s) => s));
  assert.deepEqual(on((s) => injectionSchedule(s, 50, 0.5, 0.8).conv), Array.from({ length: 40 }, (_, s) => s));
  assert.deepEqual(injectionSchedule(0, 3, 0.3, 0.3), { qk: false, conv: false });
});

test('a shorter last batch (14 frames, B = 4) gets its own keyframe and blend weights; evaluations = S*3*(N+K)', async () => {
  const n = 14;
  const steps = 3;
  const pivots = drawPivots(1, n, 4, steps);
  assert.equal(pivots[0]!.length, 4);
  const calls: UNetCallInfo[] = [];
  const debug = new Map<string, DebugTensor>();
  const before = editor.unetEvaluations;
  const beforeCalls = editor.unetCalls;
  let x = goldenFrames('x_steps', n);
  const src = goldenFrames('inverted.latents', n);
  const timesteps = [667, 334, 1]; // the 3-step leading schedule
  for (let s = 0; s < steps; s++) {
    x = (await editor.step({
      ...args(x, src, n, 16, 16, 4, pivots[s]!), t: timesteps[s]!, stepIndex: s, steps, scheduler: schedulerFor(steps),
      onUnetCall: (info) => calls.push(info), onDebugTensor: s === 0 ? (name, t) => debug.set(name, t) : undefined,
    })).prevSample;
    assert.equal(x.length, n * 4 * 16 * 16);
    assert.ok(x.every(Number.isFinite));
  }
  assert.equal(editor.unetEvaluations - before, steps * 3 * (n + 4));
  assert.equal(evaluationsPerStep(n, 4), 3 * (n + 4));
  assert.equal(editor.unetCalls - beforeCalls, steps * 5);
  assert.deepEqual(calls.slice(0, 5).map((c) => [c.pass, c.index, c.done, c.total, c.samples]), [
    ['keyframes', 0, 0, 5, 12], ['propagate', 0, 1, 5, 12], ['propagate', 1, 2, 5, 12], ['propagate', 2, 3, 5, 12], ['propagate', 3, 4, 5, 6],
  ]);
  const block = editor.blockNames[0]!;
  assert.deepEqual(debug.get(`b3.${block}.attn`)!.dims, [3, 2, 256, 32]);
  // The last batch blends with the weights of the stated rule, w = blendWeights(4, 2).
  for (const b of editor.blockNames) assert.ok(blendDeviation(debug, b, 3, blendWeights(4, 2)) <= 1e-6, b);
  assert.ok(blendDeviation(debug, block, 1, blendWeights(4)) <= 1e-6);
});

test('a non-square latent (16 x 24) runs: tokens per level follow the latent sides', async () => {
  const n = 8;
  const debug = new Map<string, DebugTensor>();
  const { prevSample: out } = await editor.step({
    ...args(latents(n, 16, 24, 1), latents(n, 16, 24, 2), n, 16, 24, 4, [1, 6]),
    onDebugTensor: (name, t) => debug.set(name, t),
  });
  assert.equal(out.length, n * 4 * 16 * 24);
  assert.ok(out.every(Number.isFinite));
  const tokens = (block: string) => debug.get(`kf.${block}.P_src`)!.dims[1];
  assert.equal(tokens('down_blocks.0.attentions.0.transformer_blocks.0'), 16 * 24);
  assert.equal(tokens('down_blocks.1.attentions.0.transformer_blocks.0'), 8 * 12);
  assert.equal(tokens('down_blocks.2.attentions.0.transformer_blocks.0'), 4 * 6);
  assert.equal(tokens('mid_block.attentions.0.transformer_blocks.0'), 2 * 3);
  assert.equal(tokens('up_blocks.3.attentions.2.transformer_blocks.0'), 16 * 24);
  for (const b of editor.blockNames) assert.ok(blendDeviation(debug, b, 1, blendWeights(4)) <= 1e-6, b);
});

test('keyframe window: chunk records equal the reference pass over the same keyframes; evaluations count the overlap', async () => {
  const windowed = await TokenFlowEditor.load(MODEL, { providers: ['cpu'], debug: true, keyframeWindow: 3 });
  try {
    const pivots = [1, 6, 8, 15];
    const x = goldenFrames('x_steps', 16);
    const src = goldenFrames('inverted.latents', 16);
    const got = new Map<string, DebugTensor>();
    const before = windowed.unetEvaluations;
    const { prevSample: out } = await windowed.step({ ...args(x, src, 16, 16, 16, 4, pivots), onDebugTensor: (name, t) => got.set(name, t) });
    assert.ok(out.every(Number.isFinite));
    // Windows [0, 3) records keyframes 0, 1; [1, 4) records 2, 3: 6 keyframe samples.
    assert.equal(windowed.unetEvaluations - before, 3 * (16 + 6));
    // The reference (single pass) over frames 0..11 (keyframes 0..2) and over frames 4..15 (keyframes 1..3).
    const first = new Map<string, DebugTensor>();
    await editor.step({ ...args(x.subarray(0, 12 * 1024), src.subarray(0, 12 * 1024), 12, 16, 16, 4, [1, 6, 8]), onDebugTensor: (name, t) => first.set(name, t) });
    const last = new Map<string, DebugTensor>();
    await editor.step({ ...args(x.subarray(4 * 1024), src.subarray(4 * 1024), 12, 16, 16, 4, [2, 4, 11]), onDebugTensor: (name, t) => last.set(name, t) });
    for (const block of windowed.blockNames) {
      const p = got.get(`kf.${block}.P_src`)!;
      const [, T, D] = p.dims as [number, number, number];
      const per = T * D;
      const keyframe = (t: DebugTensor, k: number) => (t.data as Float32Array).subarray(k * per, (k + 1) * per);
      assert.deepEqual(keyframe(p, 0), keyframe(first.get(`kf.${block}.P_src`)!, 0), `${block} keyframe 0`);
      assert.deepEqual(keyframe(p, 1), keyframe(first.get(`kf.${block}.P_src`)!, 1), `${block} keyframe 1`);
      assert.deepEqual(keyframe(p, 2), keyframe(last.get(`kf.${block}.P_src`)!, 1), `${block} keyframe 2`);
      assert.deepEqual(keyframe(p, 3), keyframe(last.get(`kf.${block}.P_src`)!, 2), `${block} keyframe 3`);
      // A [3, K, T, D]: the cnd branch of keyframe 3 comes from the second window.
      const a = got.get(`kf.${block}.A`)!.data as Float32Array;
      const aLast = last.get(`kf.${block}.A`)!.data as Float32Array;
      assert.deepEqual(a.subarray((2 * 4 + 3) * per, (2 * 4 + 4) * per), aLast.subarray((2 * 3 + 2) * per, (2 * 3 + 3) * per), `${block} A cnd keyframe 3`);
    }
    // Windowing changes the result (the keyframes no longer all see each other) ...
    const { prevSample: full } = await editor.step(args(x, src, 16, 16, 16, 4, pivots));
    assert.ok(full.some((v, i) => v !== out[i]));
  } finally {
    await windowed.release();
  }
  // ... and a window that holds every keyframe is the reference exactly.
  const wide = await TokenFlowEditor.load(MODEL, { providers: ['cpu'], keyframeWindow: 4 });
  try {
    const x = goldenFrames('x_steps', 16);
    const src = goldenFrames('inverted.latents', 16);
    assert.deepEqual(await wide.step(args(x, src, 16, 16, 16, 4, [1, 6, 8, 15])), await editor.step(args(x, src, 16, 16, 16, 4, [1, 6, 8, 15])));
  } finally {
    await wide.release();
  }
});

test('a long clip (48 frames, B = 2: 24 keyframes) with a window of 4 holds at most 4 keyframes of records', async () => {
  const small = await TokenFlowEditor.load(MODEL, { providers: ['cpu'], keyframeWindow: 4 });
  try {
    const n = 48;
    const before = small.unetEvaluations;
    const { prevSample: out } = await small.step(args(latents(n, 8, 8, 5), latents(n, 8, 8, 6), n, 8, 8, 2, drawPivots(3, n, 2, 1)[0]!));
    assert.ok(out.every(Number.isFinite));
    // Windows of 4 keyframes recording 2 each (the first and last 3): 11 windows, 44 keyframe samples.
    assert.equal(small.unetEvaluations - before, 3 * (n + 44));
    assert.equal(evaluationsPerStep(n, 2, 4), 3 * (n + 44));
    const peak = small.keyframeRecordPeak;
    assert.ok(peak.keyframes <= 4, `held ${peak.keyframes} keyframes`);
    // Per keyframe at 8x8 latents: sum over the 16 blocks of 4 * T * D floats.
    assert.ok(peak.bytes > 0 && peak.bytes <= 4 * 4 * 4 * (5 * 64 * 32 + 5 * 16 * 32 + 5 * 4 * 64 + 64), `${peak.bytes} bytes`);
  } finally {
    await small.release();
  }
});

test('keyframes-only step: a keyframe edited alone matches its batch-0 propagation (own tokens, weight 1)', async () => {
  const n = 4;
  const x = latents(n, 16, 16, 3);
  const src = latents(n, 16, 16, 4);
  const common = { x, srcLatents: src, shape: { n, h: 16, w: 16 }, t: 961, stepIndex: 1, steps: 50, scheduler: schedulerFor(50), embeds, guidance_scale: 7.5, pnp_attn_t: 0.5, pnp_f_t: 0.8 };
  const before = editor.unetEvaluations;
  const { prevSample: kf } = await editor.keyframeStep(common);
  assert.equal(editor.unetEvaluations - before, 3 * n);
  // With B = 1 every frame is its own keyframe; frame 0 (batch 0) propagates its own tokens only.
  const debug = new Map<string, DebugTensor>();
  const { prevSample: full } = await editor.step({ ...common, pivots: [0, 1, 2, 3], batch_size: 1, onDebugTensor: (name, t) => debug.set(name, t) });
  for (const block of editor.blockNames) {
    const idx = debug.get(`b0.${block}.nn_cur`)!.data as BigInt64Array;
    idx.forEach((v, t) => assert.equal(Number(v), t, `${block}: token ${t} maps to itself`));
  }
  let worst = 0;
  for (let i = 0; i < 1024; i++) worst = Math.max(worst, Math.abs(kf[i]! - full[i]!));
  assert.ok(worst <= 1e-5, `frame 0: ${worst}`);
  // Frames past the first blend in the previous keyframe, so they differ.
  assert.ok(kf.subarray(1024).some((v, i) => Math.abs(v - full[1024 + i]!) > 1e-4));
});

test('cancel between UNet calls; invalid inputs fail naming the field', async () => {
  const controller = new AbortController();
  const before = editor.unetCalls;
  const x = goldenFrames('x_steps', 16);
  const src = goldenFrames('inverted.latents', 16);
  await assert.rejects(editor.step({
    ...args(x, src, 16, 16, 16, 4, [0, 4, 8, 12]), signal: controller.signal,
    onUnetCall: (info) => { if (info.done === 2) controller.abort(); },
  }), { name: 'AbortError' });
  assert.equal(editor.unetCalls - before, 2);
  await assert.rejects(editor.step(args(x.subarray(1), src, 16, 16, 16, 4, [0, 4, 8, 12])), /x has 16383 values, expected \[16, 4, 16, 16\]/);
  await assert.rejects(editor.step(args(x, src, 16, 16, 16, 4, [0, 4, 8])), /3 keyframe\(s\) given/);
  await assert.rejects(editor.step({ ...args(x, src, 16, 16, 16, 4, [0, 4, 8, 12]), t: 980 }), /timestep 980 is not on the 50-step schedule/);
  await assert.rejects(editor.step({ ...args(x, src, 16, 16, 16, 4, [0, 4, 8, 12]), scheduler: schedulerFor(10) }), /the scheduler is set to 10 steps, steps is 50/);
  await assert.rejects(editor.step({ ...args(x, src, 16, 16, 16, 4, [0, 4, 8, 12]), embeds: { ...embeds, cnd: embeds.cnd.subarray(1) } }), /embeds\.cnd has 2463 values/);
});

test('the step returns its x0 (pred_original_sample): x and the next latents are that x0 noised with one eps', async () => {
  const x = goldenFrames('x_steps', 16);
  const src = goldenFrames('inverted.latents', 16);
  const scheduler = schedulerFor(50);
  const t = 481;
  const at = { ...args(x, src, 16, 16, 16, 4, [0, 4, 8, 12]), t, stepIndex: 25 };
  // x = sqrt(aT) x0 + sqrt(1 - aT) e and next = sqrt(aP) x0 + sqrt(1 - aP) e, solved for x0.
  const [aT, aP] = [scheduler.alphaAt(t), scheduler.alphaAt(t - 20)];
  const [sT, sP] = [Math.sqrt(1 - aT), Math.sqrt(1 - aP)];
  const det = sP * Math.sqrt(aT) - sT * Math.sqrt(aP);
  const solved = (x: Float32Array, next: Float32Array, i: number) => (sP * x[i]! - sT * next[i]!) / det;
  const worst = (out: { prevSample: Float32Array; predOriginalSample: Float32Array }) => {
    assert.equal(out.predOriginalSample.length, x.length);
    let w = 0;
    for (let i = 0; i < x.length; i++) w = Math.max(w, Math.abs(out.predOriginalSample[i]! - solved(x, out.prevSample, i)));
    return w;
  };
  const full = await editor.step(at);
  assert.ok(worst(full) <= 1e-3, `step: ${worst(full)}`);
  assert.ok(full.predOriginalSample.some((v, i) => Math.abs(v - x[i]!) > 0.1), 'x0 is not x');
  const { pivots: _, batch_size: __, ...keyframeArgs } = at;
  const kf = await editor.keyframeStep(keyframeArgs);
  assert.ok(worst(kf) <= 1e-3, `keyframe step: ${worst(kf)}`);
});
