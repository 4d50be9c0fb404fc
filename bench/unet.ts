// UNet forward latency and peak RSS on CPU (float32, ORT default threads), for the tiny-sd15
// test model and for a mid-size model with the full SD block layout and random weights
// (block_out_channels 128/256/512/512, cross_attention_dim 768), at 32x32 latents, batch 2.
// Also the achieved FLOP rate of the mid-size forward (convolutions, linear layers and
// attention products counted from the config) as a fraction of a large plain MatMul's rate
// measured in the same run (target >= 0.5). Each measurement runs in its own child process,
// so VmHWM (/proc/self/status) is that model's peak resident memory alone.
// Run through `npm run bench`, or alone: node --import tsx bench/unet.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfig, unetBlockSettings, unetConfigSchema, type UNetConfig } from '../companion/models/config.ts';
import { writeRandomUNet } from '../test/helpers/unet_checkpoint.ts';
import { peakRssMB, runChild } from './child.ts';

const TINY_MODEL = fileURLToPath(new URL('../test/fixtures/tiny-sd15', import.meta.url));
const BATCH = 2;
const LATENT = 32;
const SEQ = 77;
const MATMUL_N = 2048;
/** MatMuls chained in the reference graph: 4 x 2048^3 x 2 = 69 GFLOP, about one mid-size forward. */
const MATMUL_CHAIN = 4;

/** The SD 1.x block layout at 0.4x width: 128/256/512/512, 8 heads, CLIP-L text width. */
export const MID_SIZE_UNET = {
  block_out_channels: [128, 256, 512, 512],
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 2,
  cross_attention_dim: 768,
  attention_head_dim: 8,
  norm_num_groups: 32,
  flip_sin_to_cos: true,
  freq_shift: 0,
};

interface ForwardResult {
  createMs: number;
  /** Median and best of the timed runs (after one warm-up). */
  forwardMs: number;
  bestMs: number;
  runsMs: number[];
  peakRssMB: number;
}

export async function benchUNet(): Promise<object> {
  const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-bench-unet-'));
  try {
    const midDir = join(tmp, 'mid-size');
    const params = writeRandomUNet(midDir, MID_SIZE_UNET);
    const tinyFlops = unetForwardFlops(readConfig(TINY_MODEL, 'unet', unetConfigSchema), LATENT, LATENT, SEQ) * BATCH;
    const midFlops = unetForwardFlops(readConfig(midDir, 'unet', unetConfigSchema), LATENT, LATENT, SEQ) * BATCH;
    const tiny = runChild<ForwardResult>(import.meta.url, ['unet', TINY_MODEL, '20']);
    const mid = runChild<ForwardResult & { matmul: MatMulComparison }>(import.meta.url, ['unet', midDir, '5', 'matmul']);
    const { matmul, ...midForward } = mid;
    // Runs of the two graphs alternate in one process, so each pair sees the same machine
    // load; the fraction is the median over pairs (robust to other work on a shared machine).
    const matmulFlops = MATMUL_CHAIN * 2 * MATMUL_N ** 3;
    const gflops = (flops: number, ms: number) => flops / (ms / 1000) / 1e9;
    const pairs = matmul.unetMs.map((u, i) => gflops(midFlops, u) / gflops(matmulFlops, matmul.matmulMs[i]!));
    return {
      latents: [BATCH, 4, LATENT, LATENT],
      threads: 'ORT default (all cores)',
      'tiny-sd15': { ...tiny, gflopPerForward: round(tinyFlops / 1e9, 3) },
      'mid-size-sd-layout-random': { parameters: params, ...midForward, gflopPerForward: round(midFlops / 1e9, 1) },
      flopRate: {
        matmul: `${MATMUL_CHAIN} chained ${MATMUL_N}x${MATMUL_N} MatMuls, ${round(matmulFlops / 1e9, 1)} GFLOP`,
        unetGflopsBest: round(gflops(midFlops, Math.min(...matmul.unetMs)), 1),
        matmulGflopsBest: round(gflops(matmulFlops, Math.min(...matmul.matmulMs)), 1),
        fractionOfMatMul: round(median(pairs), 3),
        fractionPerPair: pairs.map((x) => round(x, 3)),
        target: '>= 0.5',
        alternatingRunsMs: matmul,
      },
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

interface MatMulComparison {
  unetMs: number[];
  matmulMs: number[];
}

/**
 * Multiply-add FLOPs (2 per MAC) of one UNet forward for one sample: every convolution,
 * linear layer and attention product (q k^T and the weighted sum of v). Norms, activations,
 * resizes and adds are left out: they are memory-bound and small.
 */
export function unetForwardFlops(c: UNetConfig, height: number, width: number, seqLen: number): number {
  const blocks = unetBlockSettings(c);
  const ch = c.block_out_channels;
  const n = ch.length;
  const ted = c.time_embedding_dim ?? ch[0]! * 4;
  // Spatial size per level: each stride-2 conv gives ceil(side / 2).
  const sides: [number, number][] = [[height, width]];
  for (let i = 1; i < n; i++) sides.push([Math.ceil(sides[i - 1]![0] / 2), Math.ceil(sides[i - 1]![1] / 2)]);
  const pixels = (level: number) => sides[level]![0] * sides[level]![1];
  let flops = 0;
  const conv = (cin: number, cout: number, k: number, level: number) => { flops += 2 * cin * cout * k * k * pixels(level); };
  const linear = (cin: number, cout: number, rows: number) => { flops += 2 * cin * cout * rows; };
  const resnet = (cin: number, cout: number, level: number) => {
    conv(cin, cout, 3, level);
    conv(cout, cout, 3, level);
    linear(ted, cout, 1);
    if (cin !== cout) conv(cin, cout, 1, level);
  };
  const transformer = (C: number, level: number, b: number) => {
    const T = pixels(level);
    const cross = blocks[b]!.crossAttentionDim;
    linear(C, C, T); // proj_in (1x1 conv or linear)
    for (let k = 0; k < blocks[b]!.transformerLayers; k++) {
      linear(C, 3 * C, T); // attn1 q, k, v
      flops += 2 * 2 * T * T * C; // attn1 q k^T and attention-weighted v
      linear(C, C, T); // attn1 to_out
      linear(C, C, T); // attn2 q
      linear(cross, 2 * C, seqLen); // attn2 k, v of the text
      flops += 2 * 2 * T * seqLen * C;
      linear(C, C, T); // attn2 to_out
      linear(C, 8 * C, T); // GEGLU proj
      linear(4 * C, C, T); // ff.net.2
    }
    linear(C, C, T); // proj_out
  };
  conv(c.in_channels, ch[0]!, c.conv_in_kernel, 0);
  linear(ch[0]!, ted, 1);
  linear(ted, ted, 1);
  c.down_block_types.forEach((type, i) => {
    for (let j = 0; j < blocks[i]!.layers; j++) {
      resnet(j === 0 ? ch[Math.max(i - 1, 0)]! : ch[i]!, ch[i]!, i);
      if (type === 'CrossAttnDownBlock2D') transformer(ch[i]!, i, i);
    }
    if (i < n - 1) conv(ch[i]!, ch[i]!, 3, i + 1);
  });
  resnet(ch[n - 1]!, ch[n - 1]!, n - 1);
  transformer(ch[n - 1]!, n - 1, n - 1);
  resnet(ch[n - 1]!, ch[n - 1]!, n - 1);
  let prev = ch[n - 1]!;
  c.up_block_types.forEach((type, i) => {
    const d = n - 1 - i;
    const layers = blocks[d]!.layers + 1;
    for (let j = 0; j < layers; j++) {
      const skip = j === layers - 1 ? ch[Math.max(d - 1, 0)]! : ch[d]!;
      resnet((j === 0 ? prev : ch[d]!) + skip, ch[d]!, d);
      if (type === 'CrossAttnUpBlock2D') transformer(ch[d]!, d, d);
    }
    if (i < n - 1) conv(ch[d]!, ch[d]!, 3, d - 1);
    prev = ch[d]!;
  });
  conv(ch[0]!, c.out_channels, c.conv_out_kernel, 0);
  return flops;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Child: `unet DIR RUNS [matmul]` times one UNet forward (median of RUNS after a warm-up)
 * and reads the peak RSS; with `matmul` it then creates a large MatMul session and times it
 * alternately with the UNet, for the FLOP-rate comparison.
 */
async function childMain(args: string[]): Promise<object> {
  const { createSession, run, ort } = await import('../companion/runtime/session.ts');
  const { Graph } = await import('../companion/runtime/graph.ts');
  const { buildUNetGraph } = await import('../companion/models/unet_2d_condition.ts');
  type Session = Awaited<ReturnType<typeof createSession>>;
  type Feeds = Record<string, InstanceType<typeof ort.Tensor>>;
  const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed));
  const timeOnce = async (session: Session, feeds: Feeds) => {
    const t0 = performance.now();
    await run(session, feeds);
    return performance.now() - t0;
  };

  const [, modelDir, runs, withMatMul] = args;
  let t0 = performance.now();
  const { graph, config } = buildUNetGraph(modelDir!);
  const unet = await createSession(graph, { providers: ['cpu'] });
  const createMs = performance.now() - t0;
  const crossDim = unetBlockSettings(config)[0]!.crossAttentionDim;
  const feeds = {
    sample: new ort.Tensor('float32', values(BATCH * config.in_channels * LATENT * LATENT, 3), [BATCH, config.in_channels, LATENT, LATENT]),
    timestep: new ort.Tensor('int64', BigInt64Array.from([981n, 501n]), [BATCH]),
    encoder_hidden_states: new ort.Tensor('float32', values(BATCH * SEQ * crossDim, 4), [BATCH, SEQ, crossDim]),
  };
  await timeOnce(unet, feeds); // warm-up: first-run allocations
  const ms: number[] = [];
  for (let i = 0; i < Number(runs); i++) ms.push(await timeOnce(unet, feeds));
  const result: Record<string, unknown> = {
    createMs: Math.round(createMs),
    forwardMs: round(median(ms), 1),
    bestMs: round(Math.min(...ms), 1),
    runsMs: ms.map((x) => round(x, 1)),
    peakRssMB: peakRssMB(),
  };
  if (withMatMul) {
    const N = MATMUL_N;
    const g = new Graph('matmul');
    const b = g.input('b', 'float32', [N, N]);
    let product = g.input('a', 'float32', [N, N]);
    for (let i = 0; i < MATMUL_CHAIN; i++) product = g.node('MatMul', [product, b]);
    // Summed to a scalar: copying the 16 MB product out of ORT would cost ~10% of one MatMul.
    g.output(g.node('ReduceSum', [product], { keepdims: 0 }), 'c');
    const mm = await createSession(g, { providers: ['cpu'] });
    // b is scaled by 1/sqrt(N) so the chained products stay O(1).
    const mmFeeds = { a: new ort.Tensor('float32', values(N * N, 1), [N, N]), b: new ort.Tensor('float32', values(N * N, 2).map((x) => x / Math.sqrt(N)), [N, N]) };
    await timeOnce(mm, mmFeeds);
    const unetMs: number[] = [];
    const matmulMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      matmulMs.push(round(await timeOnce(mm, mmFeeds), 1));
      unetMs.push(round(await timeOnce(unet, feeds), 1));
    }
    result.matmul = { unetMs, matmulMs };
  }
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) console.log(JSON.stringify(await childMain(process.argv.slice(i + 1))));
  else console.log(JSON.stringify(await benchUNet(), null, 2));
}
