// TokenFlow edit-step passes on CPU: time of one keyframe pass and one propagate pass, a whole
// step, session creation, and peak RSS, for the tiny-sdlayout test model and the mid-size
// random-weight SD-layout model of bench/unet.ts, in the 'fast' (prepacked) and 'low'
// (mmapped weights) memory modes, plus the plain UNet session alone for comparison. Each
// configuration runs in its own child process, so VmHWM is that configuration's peak alone.
// Run through `npm run bench -- tokenflow-step`, or alone: node --import tsx bench/tokenflow_step.ts
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE_PARAMETERS } from '../shared/parameters.ts';
import { writeRandomUNet } from '../test/helpers/unet_checkpoint.ts';
import { MID_SIZE_UNET } from './unet.ts';
import { peakRssMB, runChild } from './child.ts';

const TINY_MODEL = fileURLToPath(new URL('../test/fixtures/tiny-sdlayout', import.meta.url));

interface Case {
  model: string;
  /** Latent side, frames, batch size: K = frames / batch keyframes. */
  latent: number;
  frames: number;
  batch: number;
  steps: number;
}

interface StepResult {
  memory: string;
  sessions: string;
  createMs: number;
  rssAfterLoadMB: number;
  keyframePassMs: number[];
  propagatePassMs: number[];
  stepMs: number[];
  peakRssMB: number;
}

export async function benchTokenFlowStep(): Promise<object> {
  const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-bench-step-'));
  try {
    const mid = join(tmp, 'mid-size');
    const params = writeRandomUNet(mid, MID_SIZE_UNET);
    mkdirSync(join(mid, 'scheduler'));
    copyFileSync(join(TINY_MODEL, 'scheduler', 'scheduler_config.json'), join(mid, 'scheduler', 'scheduler_config.json'));
    const tiny: Case = { model: TINY_MODEL, latent: 16, frames: 16, batch: 4, steps: 4 };
    const midCase: Case = { model: mid, latent: 32, frames: 16, batch: 4, steps: 2 };
    return {
      threads: 'ORT default (all cores)',
      'tiny-sdlayout': { ...describe(tiny), fast: child<StepResult>('step', tiny, 'fast') },
      'mid-size-sd-layout-random': {
        parameters: params,
        ...describe(midCase),
        fast: child<StepResult>('step', midCase, 'fast'),
        low: child<StepResult>('step', midCase, 'low'),
        plainUNetOnly: { fast: child<object>('plain', midCase, 'fast'), low: child<object>('plain', midCase, 'low') },
      },
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function describe(c: Case): object {
  const k = Math.ceil(c.frames / c.batch);
  return { latents: [c.frames, 4, c.latent, c.latent], batchSize: c.batch, keyframes: k, samplesPerKeyframePass: 3 * k, samplesPerPropagatePass: 3 * c.batch };
}

function child<T>(what: string, c: Case, memory: string): T {
  return runChild<T>(import.meta.url, [what, JSON.stringify(c), memory]);
}

/** Resident memory now, MB (VmRSS). */
function rssMB(): number {
  return Math.round(process.memoryUsage.rss() / 1024 / 1024);
}

const round = (x: number) => Math.round(x);

/** Child: `step CASE MEMORY` times edit steps pass by pass; `plain CASE MEMORY` loads the plain UNet and runs one batch. */
async function childMain(what: string, c: Case, memory: 'fast' | 'low'): Promise<object> {
  const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
  const frame = 4 * c.latent * c.latent;
  if (what === 'plain') {
    const { buildUNetGraph } = await import('../companion/models/unet_2d_condition.ts');
    const { unetBlockSettings } = await import('../companion/models/config.ts');
    const { createSession, run, ort } = await import('../companion/runtime/session.ts');
    const t0 = performance.now();
    const { graph, config } = buildUNetGraph(c.model);
    const session = await createSession(graph, { providers: ['cpu'], memory });
    const createMs = performance.now() - t0;
    const rssAfterLoadMB = rssMB();
    const width = unetBlockSettings(config)[0]!.crossAttentionDim;
    const m = 3 * c.batch;
    const feeds = {
      sample: new ort.Tensor('float32', values(m * frame, 1), [m, 4, c.latent, c.latent]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(981n), [1]),
      encoder_hidden_states: new ort.Tensor('float32', values(m * 77 * width, 2), [m, 77, width]),
    };
    const ms: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await run(session, feeds);
      ms.push(round(performance.now() - t));
    }
    return { memory, createMs: round(createMs), rssAfterLoadMB, samples: m, forwardMs: ms, peakRssMB: peakRssMB() };
  }
  const { TokenFlowEditor } = await import('../companion/pipeline/edit_step.ts');
  const { unetBlockSettings, readConfig, unetConfigSchema } = await import('../companion/models/config.ts');
  const { drawPivots } = await import('../companion/pipeline/pivots.ts');
  const { DDIMScheduler } = await import('../companion/models/ddim.ts');
  const scheduler = await DDIMScheduler.load(join(c.model, 'scheduler'));
  scheduler.setTimesteps(50);
  const t0 = performance.now();
  const editor = await TokenFlowEditor.load(c.model, { providers: ['cpu'], memory });
  const createMs = performance.now() - t0;
  const rssAfterLoadMB = rssMB();
  const width = unetBlockSettings(readConfig(c.model, 'unet', unetConfigSchema))[0]!.crossAttentionDim;
  const embed = (seed: number) => values(77 * width, seed);
  const embeds = { src: embed(3), unc: embed(4), cnd: embed(5) };
  const pivots = drawPivots(1, c.frames, c.batch, c.steps);
  let x: Float32Array = values(c.frames * frame, 6);
  const src = values(c.frames * frame, 7);
  const keyframePassMs: number[] = [];
  const propagatePassMs: number[] = [];
  const stepMs: number[] = [];
  const timesteps = [981, 961, 941, 921, 901];
  for (let s = 0; s < c.steps; s++) {
    let mark = performance.now();
    let pass = '';
    const close = () => {
      const now = performance.now();
      if (pass) (pass === 'keyframes' ? keyframePassMs : propagatePassMs).push(round(now - mark));
      mark = now;
    };
    const started = performance.now();
    x = (await editor.step({
      ...REFERENCE_PARAMETERS,
      x, srcLatents: src, shape: { n: c.frames, h: c.latent, w: c.latent }, t: timesteps[s]!, stepIndex: s, scheduler,
      pivots: pivots[s]!, embeds, batch_size: c.batch,
      onUnetCall: (info) => { close(); pass = info.pass; },
    })).prevSample;
    close();
    stepMs.push(round(performance.now() - started));
  }
  await editor.release();
  return {
    memory, sessions: 'one (both modes, If per block)', createMs: round(createMs), rssAfterLoadMB,
    keyframePassMs, propagatePassMs, stepMs, peakRssMB: peakRssMB(),
  } satisfies StepResult;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    const [what, c, memory] = process.argv.slice(i + 1);
    console.log(JSON.stringify(await childMain(what!, JSON.parse(c!) as Case, memory as 'fast' | 'low')));
  } else {
    console.log(JSON.stringify(await benchTokenFlowStep(), null, 2));
  }
}
