// The tiny-sd15 UNet (32x32 latents, batch 2) per provider variant this machine runs: the CPU
// in float32, and WebGPU in float32 and float16 (here on Mesa's software Vulkan driver, so its
// times are information, not a target). Per variant: ms per call after a warm-up (which
// compiles WebGPU's shaders), the share of the forward's FLOPs that ran on the CPU (target 0),
// and the heavy ops `debug placement` finds on the CPU in every component. FLOPs are counted
// from ORT's profile of one call (each node's provider and shapes): the CPU nodes' of each
// variant over the whole forward's, counted on the CPU variant (the same function; WebGPU's
// profile lists no weight shapes for its NHWC convolutions). The same profile carries the
// WebGPU provider's GPU timestamps per shader program, summed per program as each one's share
// of the call's GPU time. Then the TokenFlow UNet of tiny-sdlayout (16 frames, batch size 4)
// per variant: ms and process CPU ms of one keyframe pass and one propagate pass, from the
// second edit step (the first compiles the shaders). On a software Vulkan device the GPU's
// work runs in this process's threads, so CPU ms are the figure that a busy machine does not
// inflate. Each variant runs in its own child process (a fresh ORT, a fresh shader cache).
// Run through `npm run bench -- providers`, or alone: node --import tsx bench/providers.ts
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InferenceSession } from 'onnxruntime-node';
import type { GraphDType } from '../companion/runtime/graph.ts';
import type { Provider } from '../companion/runtime/providers.ts';
import { runChild } from './child.ts';

const TINY_MODEL = fileURLToPath(new URL('../test/fixtures/tiny-sd15', import.meta.url));
const TOKENFLOW_MODEL = fileURLToPath(new URL('../test/fixtures/tiny-sdlayout', import.meta.url));
const BATCH = 2;
const LATENT = 32;
const RUNS = 3;
const TOKENFLOW_FRAMES = 16;
const TOKENFLOW_BATCH = 4;
const VARIANTS: Array<{ provider: Provider; precision: GraphDType }> = [
  { provider: 'cpu', precision: 'float32' },
  { provider: 'webgpu', precision: 'float32' },
  { provider: 'webgpu', precision: 'float16' },
];

interface ProfiledNode {
  cat?: string;
  name: string;
  dur?: number;
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

/**
 * Share of the GPU time per shader program, largest first, from the WebGPU provider's
 * timestamp events in an ORT profile (`cat: "Api"`, named `<node>&<op>&<program>`, `dur` in
 * µs); programs under 1 % are summed as `other`. Empty when the profile has no such events
 * (a provider or device without timestamp queries).
 */
export function gpuTimeShare(profile: ProfiledNode[]): Record<string, number> {
  const by = new Map<string, number>();
  let total = 0;
  for (const e of profile) {
    if (e.cat !== 'Api' || !e.dur || !e.name.includes('&')) continue;
    const program = e.name.slice(e.name.lastIndexOf('&') + 1);
    by.set(program, (by.get(program) ?? 0) + e.dur);
    total += e.dur;
  }
  const share: Record<string, number> = {};
  let other = 0;
  for (const [program, dur] of [...by].sort((a, b) => b[1] - a[1])) {
    if (dur / total < 0.01) other += dur;
    else share[program] = Number((dur / total).toFixed(3));
  }
  if (other) share.other = Number((other / total).toFixed(3));
  return share;
}

export async function benchProviders(): Promise<object> {
  const { heavyCpuOps, placementReport } = await import('../companion/pipeline/placement.ts');
  const results: Record<string, unknown> = {};
  let totalFlops = 0; // of one forward, from the CPU variant (first)
  for (const v of VARIANTS) {
    const name = `${v.provider}-${v.precision}`;
    try {
      const { flopsByProvider: by, ...timing } = child<VariantTiming>('unet', v.provider, v.precision);
      if (v.provider === 'cpu') totalFlops = Object.values(by).reduce((a, b) => a + b, 0);
      const report = await placementReport({ modelDir: TINY_MODEL, provider: v.provider, precision: v.precision });
      const heavyOpsOnCpu = v.provider === 'cpu' ? 'all (the CPU variant)' : Object.fromEntries(report.components.map((c) => [c.name, c.error ?? heavyCpuOps(c)]));
      results[name] = {
        ...timing,
        gflopOnCpu: Number(((by.CPUExecutionProvider ?? 0) / 1e9).toFixed(3)),
        cpuFlopShare: Number(((by.CPUExecutionProvider ?? 0) / totalFlops).toFixed(4)),
        heavyOpsOnCpu,
        tokenflowUNet: childOrError(() => child<TokenFlowTiming>('tokenflow', v.provider, v.precision)),
      };
    } catch (err) {
      results[name] = { error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
    }
  }
  return {
    model: 'tiny-sd15 UNet', latents: [BATCH, 4, LATENT, LATENT], gflopPerCall: Number((totalFlops / 1e9).toFixed(3)), runs: RUNS,
    tokenflowUNet: `${TOKENFLOW_MODEL.split('/').pop()}: ${TOKENFLOW_FRAMES} frames of 16x16 latents, batch size ${TOKENFLOW_BATCH}, 3 x ${TOKENFLOW_FRAMES / TOKENFLOW_BATCH} samples per pass; second step`,
    note: 'WebGPU runs on the Vulkan device found (here Mesa lavapipe, a CPU): its times are information', variants: results,
  };
}

interface VariantTiming {
  createMs: number;
  firstCallMs: number;
  runsMs: number[];
  msPerCall: number;
  flopsByProvider: Record<string, number>;
  gpuTimeShare: Record<string, number>;
}

interface TokenFlowTiming {
  keyframePass: { ms: number; cpuMs: number };
  propagatePass: { ms: number; cpuMs: number };
  firstStepMs: number;
}

function child<T>(what: 'unet' | 'tokenflow', provider: Provider, precision: GraphDType): T {
  return runChild<T>(import.meta.url, [what, provider, precision]);
}

function childOrError<T>(run: () => T): T | { error: string } {
  try {
    return run();
  } catch (err) {
    return { error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
  }
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
    const profile = JSON.parse(readFileSync(join(tmp, file!), 'utf8')) as ProfiledNode[];
    return {
      createMs, firstCallMs, runsMs, msPerCall: [...runsMs].sort((a, b) => a - b)[Math.floor(RUNS / 2)]!,
      flopsByProvider: flopsByProvider(profile), gpuTimeShare: gpuTimeShare(profile),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Child: two TokenFlow edit steps on one variant; the second step's pass times (the first compiles). */
async function tokenflowChild(provider: Provider, precision: GraphDType): Promise<TokenFlowTiming> {
  const { TokenFlowEditor } = await import('../companion/pipeline/edit_step.ts');
  const { unetBlockSettings, readConfig, unetConfigSchema } = await import('../companion/models/config.ts');
  const { drawPivots } = await import('../companion/pipeline/pivots.ts');
  const { DDIMScheduler } = await import('../companion/models/ddim.ts');
  const { REFERENCE_PARAMETERS } = await import('../shared/parameters.ts');
  const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-bench-providers-'));
  try {
    const editor = await TokenFlowEditor.load(TOKENFLOW_MODEL, { providers: [provider], dtype: precision, conversionCacheDir: join(tmp, 'weights') });
    const scheduler = await DDIMScheduler.load(join(TOKENFLOW_MODEL, 'scheduler'));
    scheduler.setTimesteps(REFERENCE_PARAMETERS.steps);
    const width = unetBlockSettings(readConfig(TOKENFLOW_MODEL, 'unet', unetConfigSchema))[0]!.crossAttentionDim;
    const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const frames = TOKENFLOW_FRAMES * 4 * 16 * 16;
    const embeds = { src: values(77 * width, 3), unc: values(77 * width, 4), cnd: values(77 * width, 5) };
    const pivots = drawPivots(1, TOKENFLOW_FRAMES, TOKENFLOW_BATCH, 2);
    const src = values(frames, 7);
    let x: Float32Array = values(frames, 6);
    const passes: Array<{ pass: string; ms: number; cpuMs: number }> = [];
    let firstStepMs = 0;
    for (const [s, t] of [981, 961].entries()) {
      passes.length = 0;
      let pass = '';
      let mark = { ms: performance.now(), cpu: process.cpuUsage() };
      const close = () => {
        const now = { ms: performance.now(), cpu: process.cpuUsage() };
        const cpu = process.cpuUsage(mark.cpu);
        if (pass) passes.push({ pass, ms: Math.round(now.ms - mark.ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000) });
        mark = now;
      };
      const started = performance.now();
      x = (await editor.step({
        ...REFERENCE_PARAMETERS, // 50 steps: t = 981 - 20 s
        x, srcLatents: src, shape: { n: TOKENFLOW_FRAMES, h: 16, w: 16 }, t, stepIndex: s, scheduler,
        pivots: pivots[s]!, embeds, batch_size: TOKENFLOW_BATCH,
        onUnetCall: (info) => { close(); pass = info.pass; },
      })).prevSample;
      close();
      if (s === 0) firstStepMs = Math.round(performance.now() - started);
    }
    await editor.release();
    const median = (kind: string) => {
      const of = passes.filter((p) => p.pass === kind).sort((a, b) => a.ms - b.ms);
      const { ms, cpuMs } = of[Math.floor(of.length / 2)]!;
      return { ms, cpuMs };
    };
    return { keyframePass: median('keyframes'), propagatePass: median('propagate'), firstStepMs };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    const [what, provider, precision] = process.argv.slice(i + 1) as ['unet' | 'tokenflow', Provider, GraphDType];
    console.log(JSON.stringify(what === 'unet' ? await childMain(provider, precision) : await tokenflowChild(provider, precision)));
  } else {
    console.log(JSON.stringify(await benchProviders(), null, 2));
  }
}
