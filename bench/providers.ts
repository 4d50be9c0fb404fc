// The tiny-sd15 UNet (32x32 latents, batch 2) per provider variant this machine runs: the CPU
// in float32, and WebGPU in float32 and float16 (here on Mesa's software Vulkan driver, so its
// times are information, not a target). Per variant: ms per call after a warm-up (which
// compiles WebGPU's shaders), the share of the forward's FLOPs that ran on the CPU (target 0),
// and the heavy ops `debug placement` finds on the CPU in every component. FLOPs are counted
// from ORT's profile of one call (each node's provider and shapes): the CPU nodes' of each
// variant over the whole forward's, counted on the CPU variant (the same function; WebGPU's
// profile lists no weight shapes for its NHWC convolutions). Each variant runs in its
// own child process (a fresh ORT, a fresh shader cache).
// Run through `npm run bench -- providers`, or alone: node --import tsx bench/providers.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InferenceSession } from 'onnxruntime-node';
import type { GraphDType } from '../companion/runtime/graph.ts';
import type { Provider } from '../companion/runtime/providers.ts';

const TINY_MODEL = fileURLToPath(new URL('../test/fixtures/tiny-sd15', import.meta.url));
const BATCH = 2;
const LATENT = 32;
const RUNS = 3;
const VARIANTS: Array<{ provider: Provider; precision: GraphDType }> = [
  { provider: 'cpu', precision: 'float32' },
  { provider: 'webgpu', precision: 'float32' },
  { provider: 'webgpu', precision: 'float16' },
];

interface ProfiledNode {
  cat?: string;
  name: string;
  args?: { op_name?: string; provider?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

/**
 * Multiply-add FLOPs (2 per MAC) of one profiled node from its shapes: matrix products
 * (MatMul, FusedMatMul, Gemm; K is A's last axis, as none of our products transposes A),
 * NCHW convolutions (W [Cout, Cin/groups, kh, kw], as the CPU lists it) and attention (q [B, Sq, D], k [B, Skv, D] or
 * [B, H, Skv, Dh]). Everything else counts 0: memory-bound and small.
 */
export function nodeFlops(op: string, inputs: number[][], outputs: number[][]): number {
  const size = (s: number[] | undefined) => (s ?? []).reduce((a, b) => a * b, 1);
  const out = outputs[0];
  if (!out) return 0;
  if (op === 'MatMul' || op === 'FusedMatMul' || op === 'Gemm') return 2 * size(out) * (inputs[0]?.at(-1) ?? 0);
  if (op === 'Conv') return 2 * size(out) * size(inputs[1]?.slice(1));
  if (op === 'MultiHeadAttention') {
    const [q, k] = inputs;
    if (!q || !k || q.length !== 3) return 0;
    const skv = k.length === 3 ? k[1]! : k[2]!;
    return 4 * q[0]! * q[1]! * skv * q[2]!;
  }
  return 0;
}

/** FLOPs per execution provider of the node events in an ORT profile (one run). */
export function flopsByProvider(profile: ProfiledNode[]): Record<string, number> {
  const shapes = (list: Record<string, number[]>[] | undefined) => (list ?? []).map((t) => Object.values(t)[0] ?? []);
  const by: Record<string, number> = {};
  for (const e of profile) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.args?.op_name || !e.args.provider) continue;
    const flops = nodeFlops(e.args.op_name, shapes(e.args.input_type_shape), shapes(e.args.output_type_shape));
    by[e.args.provider] = (by[e.args.provider] ?? 0) + flops;
  }
  return by;
}

export async function benchProviders(): Promise<object> {
  const { heavyCpuOps, placementReport } = await import('../companion/pipeline/placement.ts');
  const results: Record<string, unknown> = {};
  let totalFlops = 0; // of one forward, from the CPU variant (first)
  for (const v of VARIANTS) {
    const name = `${v.provider}-${v.precision}`;
    try {
      const { flopsByProvider: by, ...timing } = child(v.provider, v.precision);
      if (v.provider === 'cpu') totalFlops = Object.values(by).reduce((a, b) => a + b, 0);
      const report = await placementReport({ modelDir: TINY_MODEL, provider: v.provider, precision: v.precision });
      const heavyOpsOnCpu = v.provider === 'cpu' ? 'all (the CPU variant)' : Object.fromEntries(report.components.map((c) => [c.name, c.error ?? heavyCpuOps(c)]));
      results[name] = {
        ...timing,
        gflopOnCpu: Number(((by.CPUExecutionProvider ?? 0) / 1e9).toFixed(3)),
        cpuFlopShare: Number(((by.CPUExecutionProvider ?? 0) / totalFlops).toFixed(4)),
        heavyOpsOnCpu,
      };
    } catch (err) {
      results[name] = { error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
    }
  }
  return { model: 'tiny-sd15 UNet', latents: [BATCH, 4, LATENT, LATENT], gflopPerCall: Number((totalFlops / 1e9).toFixed(3)), runs: RUNS, note: 'WebGPU runs on the Vulkan device found (here Mesa lavapipe, a CPU): its times are information', variants: results };
}

interface VariantTiming {
  createMs: number;
  firstCallMs: number;
  runsMs: number[];
  msPerCall: number;
  flopsByProvider: Record<string, number>;
}

function child(provider: Provider, precision: GraphDType): VariantTiming {
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', provider, precision], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as VariantTiming;
}

/** Child: times the UNet on one variant, then profiles one call for the FLOP share. */
async function childMain(provider: Provider, precision: GraphDType): Promise<VariantTiming> {
  const { executionProvider, ort } = await import('../companion/runtime/session.ts');
  const { buildUNetGraph } = await import('../companion/models/unet_2d_condition.ts');
  const { unetBlockSettings } = await import('../companion/models/config.ts');
  const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-bench-providers-'));
  try {
    const { graph, config } = buildUNetGraph(TINY_MODEL, { dtype: precision, provider, conversionCacheDir: join(tmp, 'weights') });
    const width = unetBlockSettings(config)[0]!.crossAttentionDim;
    const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed));
    const feeds = {
      sample: new ort.Tensor('float32', values(BATCH * 4 * LATENT * LATENT, 3), [BATCH, 4, LATENT, LATENT]),
      timestep: new ort.Tensor('int64', BigInt64Array.from([981n]), [1]),
      encoder_hidden_states: new ort.Tensor('float32', values(BATCH * 77 * width, 4), [BATCH, 77, width]),
    };
    const options = (profile: boolean): InferenceSession.SessionOptions => ({
      executionProviders: [executionProvider(provider)],
      extra: { session: { model_external_initializers_file_folder_path: graph.weightsFolder! } },
      ...(profile ? { enableProfiling: true, profileFilePrefix: join(tmp, 'profile') } : {}),
    });
    const bytes = graph.toBytes();
    let t = performance.now();
    const session = await ort.InferenceSession.create(bytes, options(false));
    const createMs = Math.round(performance.now() - t);
    t = performance.now();
    await session.run(feeds);
    const firstCallMs = Math.round(performance.now() - t);
    const runsMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      t = performance.now();
      await session.run(feeds);
      runsMs.push(Math.round(performance.now() - t));
    }
    await session.release();
    const profiled = await ort.InferenceSession.create(bytes, options(true));
    await profiled.run(feeds);
    profiled.endProfiling(); // writes the profile
    await profiled.release();
    const file = readdirSync(tmp).find((f) => f.startsWith('profile') && f.endsWith('.json'));
    return {
      createMs, firstCallMs, runsMs, msPerCall: [...runsMs].sort((a, b) => a - b)[Math.floor(RUNS / 2)]!,
      flopsByProvider: flopsByProvider(JSON.parse(readFileSync(join(tmp, file!), 'utf8')) as ProfiledNode[]),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) console.log(JSON.stringify(await childMain(process.argv[i + 1] as Provider, process.argv[i + 2] as GraphDType)));
  else console.log(JSON.stringify(await benchProviders(), null, 2));
}
