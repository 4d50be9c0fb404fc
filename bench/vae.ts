// VAE encode and decode time per 512x512 frame on CPU (float32, batch 1, ORT default threads),
// for the tiny-sdlayout x8 VAE of the test fixtures and for the full-size SD 1.x/2.x VAE layout
// (block_out_channels 128/256/512/512, layers_per_block 2, 83.7 M parameters) with random
// weights written to a temp dir. Each (model, stage) runs in its own child process, so VmHWM
// (/proc/self/status) is that stage's peak resident memory alone. Each child also times a plain
// 3x3 convolution alternately with the stage, and reports the stage's achieved FLOP rate as a
// fraction of that convolution's: on a machine busy with other work (see the load average)
// the milliseconds drift, the fraction much less.
// Run through `npm run bench`, or alone: node --import tsx bench/vae.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vaeConfigSchema, type VaeConfig } from '../companion/models/config.ts';
import { randomArray, writeRandomVae } from '../test/helpers/random_vae.ts';
import { peakRssMB, runChild } from './child.ts';

const SIDE = 512;
const TINY_MODEL = fileURLToPath(new URL('../test/fixtures/tiny-sdlayout', import.meta.url));

/** The SD 1.5 / 2.1 vae/config.json values that shape the graph. */
const FULL_SD_VAE = {
  block_out_channels: [128, 256, 512, 512],
  down_block_types: Array(4).fill('DownEncoderBlock2D'),
  up_block_types: Array(4).fill('UpDecoderBlock2D'),
  layers_per_block: 2,
  latent_channels: 4,
  norm_num_groups: 32,
  scaling_factor: 0.18215,
};

type Stage = 'encode' | 'decode';

export async function benchVae(): Promise<object> {
  const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-bench-vae-'));
  try {
    const fullDir = join(tmp, 'sd-vae');
    const parameters = writeRandomVae(fullDir, vaeConfigSchema.parse(FULL_SD_VAE));
    const loadBefore = loadavg()[0]!;
    const result = {
      side: SIDE,
      batch: 1,
      'tiny-sdlayout': { encode: child(TINY_MODEL, 'encode', 5), decode: child(TINY_MODEL, 'decode', 5) },
      'sd-full-layout-random': { parameters, encode: child(fullDir, 'encode', 2), decode: child(fullDir, 'decode', 2) },
      loadAverage1m: { before: round(loadBefore, 2), after: round(loadavg()[0]!, 2) },
    };
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function child(modelDir: string, stage: Stage, runs: number): object {
  return runChild<object>(import.meta.url, [modelDir, stage, String(runs)]);
}

/** Reference convolution: 3x3, REF_CHANNELS -> REF_CHANNELS on a REF_SIDE^2 map, batch 1. */
const REF_CHANNELS = 256;
const REF_SIDE = 128;

/**
 * Multiply-adds x 2 of one stage on a side x side image (batch 1): every convolution, the
 * mid-block attention's projections and its two T x T products. GroupNorm, SiLU and the
 * residual adds are left out (a few percent).
 */
export function vaeFlops(c: VaeConfig, stage: Stage, side: number): number {
  let flops = 0;
  const conv = (cin: number, cout: number, k: number, pixels: number) => { flops += 2 * cin * cout * k * k * pixels; };
  const resnet = (cin: number, cout: number, pixels: number) => {
    conv(cin, cout, 3, pixels);
    conv(cout, cout, 3, pixels);
    if (cin !== cout) conv(cin, cout, 1, pixels);
  };
  const mid = (ch: number, pixels: number) => {
    resnet(ch, ch, pixels);
    if (c.mid_block_add_attention) flops += 4 * 2 * ch * ch * pixels + 2 * 2 * pixels * pixels * ch;
    resnet(ch, ch, pixels);
  };
  const ch = c.block_out_channels;
  const n = ch.length;
  const L = c.latent_channels;
  const top = ch[n - 1]!;
  const latentPixels = (side / 2 ** (n - 1)) ** 2;
  if (stage === 'encode') {
    let s = side;
    conv(c.in_channels, ch[0]!, 3, s * s);
    let cin = ch[0]!;
    ch.forEach((cout, i) => {
      for (let j = 0; j < c.layers_per_block; j++) resnet(j === 0 ? cin : cout, cout, s * s);
      if (i < n - 1) { s /= 2; conv(cout, cout, 3, s * s); }
      cin = cout;
    });
    mid(top, latentPixels);
    conv(top, 2 * L, 3, latentPixels);
    if (c.use_quant_conv) conv(2 * L, 2 * L, 1, latentPixels);
  } else {
    let s = side / 2 ** (n - 1);
    if (c.use_post_quant_conv) conv(L, L, 1, latentPixels);
    conv(L, top, 3, latentPixels);
    mid(top, latentPixels);
    let cin = top;
    [...ch].reverse().forEach((cout, i) => {
      for (let j = 0; j <= c.layers_per_block; j++) resnet(j === 0 ? cin : cout, cout, s * s);
      if (i < n - 1) { s *= 2; conv(cout, cout, 3, s * s); }
      cin = cout;
    });
    conv(ch[0]!, c.out_channels, 3, side * side);
  }
  return flops;
}

/** Child: `DIR encode|decode RUNS` times one stage at SIDE x SIDE (median of RUNS after a warm-up). */
async function childMain([modelDir, stage, runs]: string[]): Promise<object> {
  const { createSession, run, ort } = await import('../companion/runtime/session.ts');
  const { Graph } = await import('../companion/runtime/graph.ts');
  const { buildVaeDecoderGraph, buildVaeEncoderGraph } = await import('../companion/models/vae.ts');
  type Session = Awaited<ReturnType<typeof createSession>>;
  type Feeds = Record<string, InstanceType<typeof ort.Tensor>>;
  const timeOnce = async (session: Session, feeds: Feeds) => {
    const t0 = performance.now();
    await run(session, feeds);
    return performance.now() - t0;
  };

  const t0 = performance.now();
  const { graph, config } = stage === 'encode' ? buildVaeEncoderGraph(modelDir!) : buildVaeDecoderGraph(modelDir!);
  const vae = await createSession(graph, { providers: ['cpu'] });
  const createMs = performance.now() - t0;
  const latentSide = SIDE / 2 ** (config.block_out_channels.length - 1);
  const L = config.latent_channels;
  const feeds: Feeds = stage === 'encode'
    ? { image: new ort.Tensor('float32', randomArray(3 * SIDE * SIDE, 1, 1), [1, 3, SIDE, SIDE]) }
    : { latents: new ort.Tensor('float32', randomArray(L * latentSide * latentSide, 2, 2), [1, L, latentSide, latentSide]) };

  // The reference convolution, with embedded random weights (ORT would share zeros).
  const g = new Graph('reference_conv');
  const weight = g.constant(randomArray(REF_CHANNELS * REF_CHANNELS * 9, 3, 0.05), 'float32', [REF_CHANNELS, REF_CHANNELS, 3, 3]);
  const x = g.input('x', 'float32', [1, REF_CHANNELS, REF_SIDE, REF_SIDE]);
  g.output(g.node('Conv', [x, weight], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }), 'y');
  const ref = await createSession(g, { providers: ['cpu'] });
  const refFeeds = { x: new ort.Tensor('float32', randomArray(REF_CHANNELS * REF_SIDE * REF_SIDE, 4, 1), [1, REF_CHANNELS, REF_SIDE, REF_SIDE]) };

  await timeOnce(vae, feeds); // warm-up: first-run allocations
  await timeOnce(ref, refFeeds);
  const ms: number[] = [];
  const refMs: number[] = [];
  for (let i = 0; i < Number(runs); i++) {
    ms.push(await timeOnce(vae, feeds));
    refMs.push(await timeOnce(ref, refFeeds));
  }
  const flops = vaeFlops(config, stage as Stage, SIDE);
  const refFlops = 2 * REF_CHANNELS * REF_CHANNELS * 9 * REF_SIDE * REF_SIDE;
  const gflops = flops / Math.min(...ms) / 1e6;
  const refGflops = refFlops / Math.min(...refMs) / 1e6;
  return {
    createMs: Math.round(createMs),
    msPerFrame: Math.round(median(ms)),
    bestMs: Math.round(Math.min(...ms)),
    runsMs: ms.map(Math.round),
    gflop: round(flops / 1e9, 1),
    achievedGflops: round(gflops, 1),
    referenceConvGflops: round(refGflops, 1),
    fractionOfReferenceConv: round(gflops / refGflops, 2),
    peakRssMB: peakRssMB(),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}


if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) console.log(JSON.stringify(await childMain(process.argv.slice(i + 1))));
  else console.log(JSON.stringify(await benchVae(), null, 2));
}
