// `npm run bench -- gpu [--dry-run]`: the prepared GPU check, for a machine with a real GPU for a
// few minutes and no internet. It writes a full-size SD 1.5-architecture model with random
// weights (UNet fp16 ~1.7 GB, VAE, CLIP ViT-L text encoder; configs below, as in the SD 1.5
// diffusers folders) to a temp dir once, then per provider — WebGPU (Vulkan on Linux; skipped,
// saying why, where the Vulkan loader is missing or only the software driver is installed) and
// CUDA (where ORT's CUDA provider library is installed) — reports, each in its own child process:
// UNet ms per call at 64x64 latents for batch 2 and 16 and the achieved TFLOP/s (bench/unet.ts's
// FLOP count), VAE decode ms per 512x512 frame, one TokenFlow edit step for 16 frames (batch
// size 8, the product's default), and where ORT placed each component's nodes. Then, per provider
// and precision, the full 50-step TokenFlow edit of tiny-sdlayout's golden clip (`tokenflow debug
// tokenflow`) against the golden run's free-running bounds: the one parity check the test suite
// cannot run on a GPU provider (on lavapipe it takes ~1.5 h). Every child has a share of a
// 7.5-minute budget, so the check ends inside 8 minutes (the dry run has no budget).
// --dry-run runs the same code at tiny sizes (any Vulkan device, lavapipe included) and skips the
// 50-step edit: the test suite runs it (test/bench/gpu.test.ts).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfig, unetConfigSchema, vaeConfigSchema } from '../companion/models/config.ts';
import { compareFreeRunning } from '../test/helpers/free_running_parity.ts';
import { writeRandomTextEncoder } from '../test/helpers/random_clip.ts';
import { writeRandomVae } from '../test/helpers/random_vae.ts';
import { writeRandomUNet } from '../test/helpers/unet_checkpoint.ts';
import { REFERENCE_PARAMETERS } from '../shared/parameters.ts';
import { unetForwardFlops } from './unet.ts';
import { lastLine, runChild } from './child.ts';

/** SD 1.5 unet/config.json (runwayml/stable-diffusion-v1-5), the fields that shape the graph. */
export const SD15_UNET = {
  sample_size: 64, in_channels: 4, out_channels: 4, center_input_sample: false, flip_sin_to_cos: true, freq_shift: 0,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  mid_block_type: 'UNetMidBlock2DCrossAttn',
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  block_out_channels: [320, 640, 1280, 1280], layers_per_block: 2, downsample_padding: 1, mid_block_scale_factor: 1,
  act_fn: 'silu', norm_num_groups: 32, norm_eps: 1e-5, cross_attention_dim: 768, attention_head_dim: 8,
  use_linear_projection: false, upcast_attention: false,
};

/** SD 1.5 vae/config.json. */
export const SD15_VAE = {
  in_channels: 3, out_channels: 3, latent_channels: 4, sample_size: 512, act_fn: 'silu',
  block_out_channels: [128, 256, 512, 512], layers_per_block: 2, norm_num_groups: 32, scaling_factor: 0.18215,
  down_block_types: Array(4).fill('DownEncoderBlock2D'), up_block_types: Array(4).fill('UpDecoderBlock2D'),
};

/** SD 1.5 text_encoder/config.json (CLIP ViT-L/14 text tower). */
export const SD15_TEXT = {
  hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12,
  max_position_embeddings: 77, vocab_size: 49408, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5,
};

/** The dry run's model: the SD block layout (so the TokenFlow injection points exist) at toy widths. */
const DRY_UNET = { ...SD15_UNET, block_out_channels: [32, 32, 64, 64], cross_attention_dim: 32, attention_head_dim: 4 };
const DRY_VAE = { ...SD15_VAE, block_out_channels: [32, 32, 64, 64], layers_per_block: 1, norm_num_groups: 16 };
const DRY_TEXT = { ...SD15_TEXT, hidden_size: 32, intermediate_size: 37, num_attention_heads: 4, num_hidden_layers: 5 };

export interface GpuCheckSize {
  /** Latent side (pixels / 8). */
  latent: number;
  unetBatches: number[];
  /** Timed calls per measurement, after one warm-up call. */
  runs: number;
  frames: number;
  editBatch: number;
  editSteps: number;
}

const FULL: GpuCheckSize = { latent: 64, unetBatches: [2, 16], runs: 5, frames: 16, editBatch: 8, editSteps: 2 };
const DRY: GpuCheckSize = { latent: 8, unetBatches: [1, 2], runs: 1, frames: 4, editBatch: 2, editSteps: 1 };
const BUDGET_MS = 450_000;
const SCHEDULER = fileURLToPath(new URL('../test/fixtures/tiny-sd15/scheduler/scheduler_config.json', import.meta.url));
const TOKENIZER = fileURLToPath(new URL('../test/fixtures/tiny-sd15/tokenizer', import.meta.url));
const TINY_SDLAYOUT = fileURLToPath(new URL('../test/fixtures/tiny-sdlayout', import.meta.url));
const CLI = fileURLToPath(new URL('../bin/tokenflow.mjs', import.meta.url));
const PRECISIONS = ['float32', 'float16'] as const;
/** On a real GPU one 50-step edit of the tiny clip should take well under a minute. */
const PARITY_RESERVE_MS = 45_000;
const PARITY_MAX_MS = 120_000;
const DRY_RUN_PARITY = 'not run in the dry run: the full 50-step edit on a software device: ~1.5 h (lavapipe, measured)';

type GpuProvider = 'webgpu' | 'cuda';

interface ProviderPlan {
  provider: GpuProvider;
  /** Why the provider is not run, when it is not. */
  skipped?: string;
  env?: NodeJS.ProcessEnv;
}

export async function benchGpu(args: string[] = []): Promise<object> {
  const dryRun = args.includes('--dry-run');
  const started = Date.now();
  const size = dryRun ? DRY : FULL;
  const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-bench-gpu-'));
  try {
    const model = join(tmp, 'sd15-random');
    const t0 = performance.now();
    const parameters = writeModel(model, dryRun);
    const writeMs = Math.round(performance.now() - t0);
    const vulkan = vulkanStatus();
    const { cudaProviderInstalled } = await import('../companion/runtime/session.ts');
    const plans = providerPlans(vulkan, dryRun, cudaProviderInstalled());
    const flopsPerSample = unetForwardFlops(readConfig(model, 'unet', unetConfigSchema), size.latent, size.latent, 77);
    const runnable = plans.filter((p) => !p.skipped);
    let tasksLeft = runnable.length * 2;
    let editsLeft = dryRun ? 0 : runnable.length * PRECISIONS.length;
    const budgetLeft = () => BUDGET_MS - (Date.now() - started);
    // The budget is the real check's 8 minutes; a dry run on a slow software device has none. The
    // timing parts share it less a reserve for the 50-step edits, which run last and share the rest.
    const timeout = () => (dryRun ? undefined : Math.round(Math.max(20_000, (budgetLeft() - editsLeft * PARITY_RESERVE_MS) / Math.max(1, tasksLeft--))));
    const editTimeout = () => Math.round(Math.min(PARITY_MAX_MS, Math.max(20_000, budgetLeft() / Math.max(1, editsLeft--))));
    const envFor = (plan: ProviderPlan) => ({ ...process.env, ...plan.env, TOKENFLOW_HOME: join(tmp, 'home') });
    const providers: Record<string, Record<string, unknown>> = {};
    for (const plan of plans) {
      if (plan.skipped) {
        providers[plan.provider] = { skipped: plan.skipped };
        continue;
      }
      const timings = child(plan.provider, model, size, envFor(plan), timeout());
      const placement = await placementSummary(model, plan.provider, envFor(plan), timeout());
      providers[plan.provider] = { ...withTflops(timings, flopsPerSample), placement, ...(plan.env ? { env: plan.env } : {}) };
    }
    for (const plan of runnable) {
      providers[plan.provider]!.freeRunningParity = dryRun ? { skipped: DRY_RUN_PARITY } : Object.fromEntries(PRECISIONS.map((precision) => [
        precision, parityRun(plan.provider, precision, envFor(plan), join(tmp, `parity-${plan.provider}-${precision}`), editTimeout()),
      ]));
    }
    return {
      size: dryRun ? 'dry run (toy widths)' : 'SD 1.5 architecture, random weights',
      parameters,
      modelWriteMs: writeMs,
      latents: `${size.latent}x${size.latent}`,
      gflopPerSample: Math.round(flopsPerSample / 1e6) / 1e3,
      vulkan,
      providers,
      totalMs: Date.now() - started,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The model folder: UNet and text encoder written as fp16 (what GPU graphs use), the VAE as fp32 (converted once on load). */
function writeModel(dir: string, dryRun: boolean): Record<string, number> {
  const unet = writeRandomUNet(dir, dryRun ? DRY_UNET : SD15_UNET, { dtype: 'F16' });
  const vae = writeRandomVae(dir, vaeConfigSchema.parse(dryRun ? DRY_VAE : SD15_VAE));
  const text = writeRandomTextEncoder(dir, dryRun ? DRY_TEXT : SD15_TEXT, 'F16');
  mkdirSync(join(dir, 'scheduler'));
  copyFileSync(SCHEDULER, join(dir, 'scheduler', 'scheduler_config.json'));
  mkdirSync(join(dir, 'tokenizer'));
  for (const f of readdirSync(TOKENIZER)) copyFileSync(join(TOKENIZER, f), join(dir, 'tokenizer', f));
  return { unet, vae, textEncoder: text };
}

export interface VulkanStatus {
  /** The Vulkan loader library found, or null (Linux only; elsewhere WebGPU uses D3D12 or Metal). */
  loader: string | null;
  /** Vulkan driver manifests (ICDs) installed. */
  drivers: string[];
}

const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

export function vulkanStatus(env: NodeJS.ProcessEnv = process.env): VulkanStatus {
  const libDirs = [...(env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean), ...LIB_DIRS];
  const loader = libDirs.map((d) => join(d, 'libvulkan.so.1')).find((f) => existsSync(f)) ?? null;
  const drivers = ICD_DIRS.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => join(d, f)) : []));
  return { loader, drivers };
}

/**
 * Which providers run. WebGPU on Linux needs the Vulkan loader; for the full-size run it is
 * pinned to NVIDIA's driver where that is installed (Dawn could otherwise pick another device),
 * and skipped where only Mesa's software driver is, which would take hours at SD size.
 */
export function providerPlans(vulkan: VulkanStatus, dryRun: boolean, cuda: boolean, platform: string = process.platform): ProviderPlan[] {
  const plans: ProviderPlan[] = [];
  if (platform !== 'linux') plans.push({ provider: 'webgpu' });
  else if (!vulkan.loader) {
    plans.push({ provider: 'webgpu', skipped: `libvulkan.so.1 (the Vulkan loader) not found in LD_LIBRARY_PATH or ${LIB_DIRS.join(', ')}: install libvulkan1 and the GPU's Vulkan driver` });
  } else {
    const nvidia = vulkan.drivers.find((d) => /nvidia/i.test(d));
    const hardware = vulkan.drivers.filter((d) => !/lvp_icd/.test(d));
    if (dryRun) plans.push({ provider: 'webgpu' });
    else if (nvidia) plans.push({ provider: 'webgpu', env: { VK_ICD_FILENAMES: nvidia } });
    else if (hardware.length === 0) {
      plans.push({ provider: 'webgpu', skipped: `only Mesa's software Vulkan driver is installed (${vulkan.drivers.join(', ') || 'no driver manifests'}); install the GPU's Vulkan driver (NVIDIA: nvidia_icd.json comes with the driver; in a container set NVIDIA_DRIVER_CAPABILITIES=all)` });
    } else plans.push({ provider: 'webgpu' });
  }
  plans.push(cuda ? { provider: 'cuda' } : {
    provider: 'cuda',
    skipped: "ORT's CUDA provider library is not installed (README, NVIDIA GPUs: ONNXRUNTIME_NODE_INSTALL=1 node node_modules/onnxruntime-node/script/install, which needs the internet)",
  });
  return plans;
}

interface ChildTimings {
  unet?: { createMs: number; batches: Record<string, { msPerCall: number; runsMs: number[] }> };
  vaeDecode?: { createMs: number; side: number; msPerFrame: number; runsMs: number[] };
  tokenflowStep?: { createMs: number; frames: number; batchSize: number; stepMs: number[] };
  error?: string;
}

function child(provider: GpuProvider, model: string, size: GpuCheckSize, env: NodeJS.ProcessEnv, timeoutMs: number | undefined): ChildTimings {
  try {
    return runChild<ChildTimings>(import.meta.url, [provider, model, JSON.stringify(size)], { env, timeoutMs });
  } catch (err) {
    const e = err as { signal?: string; stdout?: string; message?: string };
    const last = e.stdout === undefined ? undefined : lastLine(e.stdout);
    const partial = last?.startsWith('{') ? JSON.parse(last) as ChildTimings : {};
    return { ...partial, error: e.signal && timeoutMs ? `stopped after ${Math.round(timeoutMs / 1000)} s (its share of the time budget)` : (e.message ?? String(err)).split('\n')[0] };
  }
}

function withTflops(t: ChildTimings, flopsPerSample: number): object {
  if (!t.unet) return t;
  const batches = Object.fromEntries(Object.entries(t.unet.batches).map(([b, r]) => [b, {
    ...r, tflops: Number(((flopsPerSample * Number(b)) / (r.msPerCall / 1000) / 1e12).toPrecision(3)),
  }]));
  return { ...t, unet: { ...t.unet, batches } };
}

/**
 * `tokenflow debug tokenflow` on tiny-sdlayout's golden clip on one provider and precision, in its
 * own process, compared with the golden run (test/helpers/free_running_parity.ts: every x_steps,
 * the final latents, decoded, step 0's nearest neighbours). `ranOn` is the CLI's session log, which
 * shows a provider that fell back to the CPU.
 */
export function parityRun(provider: GpuProvider, precision: (typeof PRECISIONS)[number], env: NodeJS.ProcessEnv, dir: string, timeoutMs: number): object {
  mkdirSync(dir);
  const out = join(dir, 'ours.safetensors');
  const step0 = join(dir, 'step0.safetensors');
  const started = Date.now();
  const run = spawnSync(process.execPath, [
    CLI, 'debug', 'tokenflow', '--model', TINY_SDLAYOUT, '--golden', join(TINY_SDLAYOUT, 'golden', 'tokenflow.safetensors'),
    '--out', out, '--step0-out', step0, '--cache-dir', join(dir, 'weights'), '--provider', provider, '--precision', precision,
  ], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env, timeout: timeoutMs, maxBuffer: 16 << 20 });
  const wallMs = Date.now() - started;
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') {
    return { error: `timed out: stopped after ${Math.round(timeoutMs / 1000)} s (its share of the time budget)`, wallMs };
  }
  if (run.status !== 0) {
    const tail = run.stderr?.trim().split('\n').slice(-3).join(' | ');
    const how = run.error ? run.error.message : run.signal ? `killed by ${run.signal}` : `exit code ${run.status}`;
    return { error: `${how}${tail ? `: ${tail}` : ''}`, wallMs };
  }
  const ranOn = run.stderr.split('\n').filter((l) => /: running on /.test(l));
  try {
    return { wallMs, ranOn, ...compareFreeRunning(out, join(TINY_SDLAYOUT, 'golden'), step0) };
  } catch (err) {
    return { error: `comparing with the golden: ${err instanceof Error ? err.message : String(err)}`, wallMs, ranOn };
  }
}

async function placementSummary(model: string, provider: GpuProvider, env: NodeJS.ProcessEnv, timeoutMs: number | undefined): Promise<object> {
  const { heavyCpuOps, placementReport } = await import('../companion/pipeline/placement.ts');
  try {
    const report = await placementReport({ modelDir: model, provider, env, timeoutMs });
    return Object.fromEntries(report.components.map((c) => [c.name, c.error ? { error: c.error } : {
      byProvider: c.by_provider, heavyOpsOnCpu: heavyCpuOps(c), cpuOps: c.cpu_ops,
    }]));
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Child: times the UNet, the VAE decoder and a TokenFlow step on one provider; prints what it has after each part. */
async function childMain(provider: GpuProvider, model: string, size: GpuCheckSize): Promise<void> {
  const { PlainUNet, VaeDecoder } = await import('../companion/pipeline/components.ts');
  const { TokenFlowEditor } = await import('../companion/pipeline/edit_step.ts');
  const { drawPivots } = await import('../companion/pipeline/pivots.ts');
  const { DDIMScheduler } = await import('../companion/models/ddim.ts');
  const { readConfig: read, unetBlockSettings } = await import('../companion/models/config.ts');
  const options = { providers: [provider], conversionCacheDir: join(model, '.weights') };
  const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
  const timed = async (fn: () => Promise<unknown>) => {
    await fn(); // warm-up: shader compilation, first allocations
    const ms: number[] = [];
    for (let i = 0; i < size.runs; i++) {
      const t = performance.now();
      await fn();
      ms.push(round1(performance.now() - t));
    }
    return ms;
  };
  const result: ChildTimings = {};
  const report = () => console.log(JSON.stringify(result));
  const L = size.latent;
  const width = unetBlockSettings(read(model, 'unet', unetConfigSchema))[0]!.crossAttentionDim;
  const text = values(77 * width, 2);

  let t0 = performance.now();
  const unet = await PlainUNet.load(model, options);
  result.unet = { createMs: Math.round(performance.now() - t0), batches: {} };
  for (const n of size.unetBatches) {
    const x = values(n * 4 * L * L, 1);
    const runsMs = await timed(() => unet.predict(x, { n, c: 4, h: L, w: L }, 981, text, width));
    result.unet.batches[n] = { msPerCall: median(runsMs), runsMs };
    report();
  }
  await unet.release();

  t0 = performance.now();
  const vae = await VaeDecoder.load(model, options);
  const createMs = Math.round(performance.now() - t0);
  const latents = values(4 * L * L, 3);
  const runsMs = await timed(() => vae.decode(latents, 1, 4, L, L));
  result.vaeDecode = { createMs, side: L * 8, msPerFrame: median(runsMs), runsMs };
  await vae.release();
  report();

  t0 = performance.now();
  const editor = await TokenFlowEditor.load(model, options);
  result.tokenflowStep = { createMs: Math.round(performance.now() - t0), frames: size.frames, batchSize: size.editBatch, stepMs: [] };
  const frame = 4 * L * L;
  let x: Float32Array = values(size.frames * frame, 6);
  const src = values(size.frames * frame, 7);
  const embeds = { src: values(77 * width, 3), unc: values(77 * width, 4), cnd: values(77 * width, 5) };
  const pivots = drawPivots(1, size.frames, size.editBatch, size.editSteps + 1);
  const scheduler = await DDIMScheduler.load(join(model, 'scheduler'));
  scheduler.setTimesteps(50);
  for (let s = 0; s <= size.editSteps; s++) { // step 0 is the warm-up
    const t = performance.now();
    x = (await editor.step({
      ...REFERENCE_PARAMETERS, // 50 steps: t = 981 - 20 s
      x, srcLatents: src, shape: { n: size.frames, h: L, w: L }, t: 981 - 20 * s, stepIndex: s, scheduler,
      pivots: pivots[s]!, embeds, batch_size: size.editBatch,
    })).prevSample;
    if (s > 0) result.tokenflowStep.stepMs.push(Math.round(performance.now() - t));
  }
  await editor.release();
  report();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    const [provider, model, size] = process.argv.slice(i + 1);
    await childMain(provider as GpuProvider, model!, JSON.parse(size!) as GpuCheckSize);
  } else {
    console.log(JSON.stringify(await benchGpu(process.argv.slice(2)), null, 2));
  }
}
