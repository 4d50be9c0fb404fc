// The whole TokenFlow pipeline on CPU (preprocessing + edit + decode through edit_clip.ts):
//  - time per frame of a full edit with the mid-size SD-layout random-weight UNet of
//    bench/unet.ts (128/256/512/512; text width 32 so that tiny-sdlayout's text encoder, VAE,
//    tokenizer and scheduler complete the model), 8 frames of 256x256 (32x32 latents), batch 4,
//    2 edit steps over 2 inversion steps, and its UNet evaluations against the spec's formula;
//  - peak RSS against clip length (40, 200, 400 frames of 32x32 pixels, bundled tiny model);
//  - the wall time of a second prompt on the same clip relative to the first (inversion
//    cache), with the product's default step proportions (10 inversion steps per edit step:
//    50 over 5 here, as 500 over 50), 16 frames of 64x64, tiny model. Target <= 0.55.
// Each measurement runs in its own child process, so VmHWM is that run's peak alone.
// Run through `npm run bench -- pipeline`, or alone: node --import tsx bench/pipeline.ts
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRandomUNet } from '../test/helpers/unet_checkpoint.ts';
import { REFERENCE_PARAMETERS } from '../shared/parameters.ts';
import { MID_SIZE_UNET } from './unet.ts';
import { peakRssMB, runChild } from './child.ts';

const TINY_SD15 = fileURLToPath(new URL('../test/fixtures/tiny-sd15', import.meta.url));
const TINY_SDLAYOUT = fileURLToPath(new URL('../test/fixtures/tiny-sdlayout', import.meta.url));

interface EditCase {
  model: string;
  frames: number;
  side: number;
  steps: number;
  inversionSteps: number;
  batch: number;
  /** Run a second edit with another target prompt on the same clip, through an inversion cache. */
  secondPrompt?: boolean;
}

interface RunStats {
  seconds: number;
  timingsMs: Record<string, number>;
  loadMs: Record<string, number>;
  invertUnetEvaluations: number;
  editUnetEvaluations: number;
  editUnetCalls: number;
  cacheHit: boolean;
}

interface ChildResult {
  first: RunStats;
  second?: RunStats;
  peakRssMB: number;
}

export async function benchPipeline(): Promise<object> {
  const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-bench-pipeline-'));
  try {
    const mid = join(tmp, 'mid-size');
    mkdirSync(mid);
    for (const part of ['vae', 'text_encoder', 'tokenizer', 'scheduler']) cpSync(join(TINY_SDLAYOUT, part), join(mid, part), { recursive: true });
    copyFileSync(join(TINY_SDLAYOUT, 'model_index.json'), join(mid, 'model_index.json'));
    const params = writeRandomUNet(mid, { ...MID_SIZE_UNET, cross_attention_dim: 32 });

    const full: EditCase = { model: mid, frames: 8, side: 256, steps: 2, inversionSteps: 2, batch: 4 };
    const fullRun = child(tmp, full);
    const k = Math.ceil(full.frames / full.batch);
    const f = fullRun.first;

    const rss: Record<string, { peakRssMB: number; seconds: number }> = {};
    for (const frames of [40, 200, 400]) {
      const r = child(tmp, { model: TINY_SD15, frames, side: 32, steps: 2, inversionSteps: 2, batch: 8 });
      rss[`${frames} frames`] = { peakRssMB: r.peakRssMB, seconds: round(r.first.seconds, 1) };
    }

    const cache = child(tmp, { model: TINY_SD15, frames: 16, side: 64, steps: 5, inversionSteps: 50, batch: 8, secondPrompt: true });
    const ratio = cache.second!.seconds / cache.first.seconds;
    return {
      fullEdit: {
        model: `mid-size SD layout, random weights (${MID_SIZE_UNET.block_out_channels.join('/')}, text width 32), ${(params / 1e6).toFixed(1)} M UNet parameters`,
        clip: `${full.frames} frames of ${full.side}x${full.side} (latents ${full.side / 8}x${full.side / 8}), batch ${full.batch}, ${full.steps} edit steps, ${full.inversionSteps} inversion steps`,
        secondsPerFrame: round(f.seconds / full.frames, 2),
        editSecondsPerFrame: round((f.timingsMs.edit! / 1000) / full.frames, 2),
        totalSeconds: round(f.seconds, 1),
        stageSeconds: Object.fromEntries(Object.entries(f.timingsMs).map(([name, ms]) => [name, round(ms / 1000, 2)])),
        sessionLoadSeconds: Object.fromEntries(Object.entries(f.loadMs).map(([name, ms]) => [name, round(ms / 1000, 2)])),
        peakRssMB: fullRun.peakRssMB,
        unetEvaluations: {
          edit: f.editUnetEvaluations,
          editFormula: `S*3*(N+K) = ${full.steps}*3*(${full.frames}+${k}) = ${full.steps * 3 * (full.frames + k)}`,
          editMatchesFormula: f.editUnetEvaluations === full.steps * 3 * (full.frames + k),
          inversion: f.invertUnetEvaluations,
          inversionFormula: `I*N = ${full.inversionSteps * full.frames}`,
          inversionMatchesFormula: f.invertUnetEvaluations === full.inversionSteps * full.frames,
          editUnetCalls: f.editUnetCalls,
        },
      },
      peakRssByClipLength: {
        setup: 'tiny-sd15, 32x32 frames (16x16 latents), batch 8, 2 edit steps, 2 inversion steps',
        ...rss,
        ratio400to40: round(rss['400 frames']!.peakRssMB / rss['40 frames']!.peakRssMB, 2),
        target: '<= 1.3',
      },
      secondPrompt: {
        setup: 'tiny-sd15, 16 frames of 64x64, batch 8, 5 edit steps over 50 inversion steps (the default 1:10), same process, inversion cache',
        firstSeconds: round(cache.first.seconds, 2),
        secondSeconds: round(cache.second!.seconds, 2),
        secondCacheHit: cache.second!.cacheHit,
        ratio: round(ratio, 2),
        evaluationRatio: round(cache.second!.editUnetEvaluations / (cache.first.editUnetEvaluations + cache.first.invertUnetEvaluations), 2),
        target: '<= 0.55',
      },
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function child(tmp: string, c: EditCase): ChildResult {
  const dir = mkdtempSync(join(tmp, 'run-'));
  try {
    return runChild<ChildResult>(import.meta.url, [JSON.stringify({ ...c, dir })]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Child: one edit (or two, the second through the cache) of a synthetic clip. */
async function childMain(c: EditCase & { dir: string }): Promise<ChildResult> {
  const { editClip } = await import('../companion/pipeline/edit_clip.ts');
  const { InversionCache } = await import('../companion/pipeline/inversion_cache.ts');
  const { writeSyntheticFrames } = await import('../test/helpers/synthetic_frames.ts');
  const frames = writeSyntheticFrames(join(c.dir, 'frames.rgb'), c.side, c.side, c.frames);
  const caches = c.secondPrompt ? [new InversionCache(join(c.dir, 'cache'))] : [];
  const once = async (target: string): Promise<RunStats> => {
    const started = performance.now();
    const r = await editClip({
      modelDir: c.model, frames, prompts: { prompt: target, negative_prompt: 'blurry', source_prompt: 'a test pattern' },
      params: { ...REFERENCE_PARAMETERS, steps: c.steps, batch_size: c.batch, inversion_steps: c.inversionSteps },
      outputPath: join(c.dir, 'out.rgb'), workDir: c.dir, caches, runtime: { providers: ['cpu'] },
    });
    const seconds = (performance.now() - started) / 1000;
    return {
      seconds, timingsMs: { ...r.stats.timingsMs }, loadMs: { ...r.stats.loadMs }, cacheHit: r.cacheHit,
      invertUnetEvaluations: r.stats.invertUnetEvaluations, editUnetEvaluations: r.stats.editUnetEvaluations, editUnetCalls: r.stats.editUnetCalls,
    };
  };
  const first = await once('a red robot');
  const second = c.secondPrompt ? await once('a snowy street') : undefined;
  return { first, second, peakRssMB: peakRssMB() };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) console.log(JSON.stringify(await childMain(JSON.parse(process.argv[i + 1]!))));
  else console.log(JSON.stringify(await benchPipeline(), null, 2));
}
