// `tokenflow debug tokenflow --model DIR --golden FILE.safetensors --out OUT.safetensors`:
// runs preprocessing and the whole edit on a reference file's frames, token ids, settings and
// keyframe list, and writes the same tensors under the same names (z0, inverted.latents,
// eps_hat, x_start, x_steps, decoded, ...), so that any model and clip can be compared with a
// Python TokenFlow run. With --step0-out, the per-block values of step 0 (kf.*, b<i>.*) too.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PARAMETERS, REFERENCE_PARAMETERS, type JobParameters } from '../../shared/parameters.ts';
import type { SafetensorsFile, TensorToWrite } from '../runtime/safetensors.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { productRuntime } from '../pipeline/tokenflow.ts';
import { providerChoice, providerHelp, providerOptions } from './provider_options.ts';

const help = [
  'tokenflow debug tokenflow --model DIR --golden FILE.safetensors --out OUT.safetensors [--settings FILE.json] [--step0-out FILE.safetensors] [--cache-dir DIR] [--provider P] [--precision float16|float32]',
  '  Runs TokenFlow preprocessing and the full edit (CPU, float32 unless --provider / --precision or',
  '  TOKENFLOW_PROVIDERS / TOKENFLOW_PRECISION say otherwise) on the golden file\'s `frames`',
  '  (U8 [N, H, W, 3]), `text.input_ids` (rows: source, negative, target prompt) and `pivots`',
  '  (keyframes per step; drawn from the seed when absent), with the settings in FILE.json',
  '  (default: the golden\'s .json beside it, key "settings"; else the reference defaults), and',
  '  writes frames, text.input_ids, text.embeds, z0, inverted.timesteps, inverted.latents, eps_hat,',
  '  x_start, timesteps, pivots, x_steps, blend_weights and decoded. A golden file split into',
  '  FILE.part<i>.safetensors is read as one. --step0-out also writes step 0\'s kf.<block>.P_src|A',
  '  and b<i>.<block>.query|nn_cur|nn_prev|attn.',
  providerHelp('cpu'),
].join('\n');

/** A safetensors file, or its `.part<i>` pieces read as one. */
class TensorSource {
  private constructor(private readonly byName: Map<string, SafetensorsFile>) {}

  static async open(file: string): Promise<TensorSource> {
    const { SafetensorsFile } = await import('../runtime/safetensors.ts');
    let files: string[];
    if (fs.existsSync(file)) files = [file];
    else {
      const dir = path.dirname(file);
      const base = path.basename(file).replace(/\.safetensors$/, '');
      const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.part(\\d+)\\.safetensors$`);
      files = (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((f) => re.test(f)).sort((a, b) => Number(re.exec(a)![1]) - Number(re.exec(b)![1])).map((f) => path.join(dir, f));
      if (!files.length) throw new Error(`${file}: no such file (nor ${base}.part<i>.safetensors beside it)`);
    }
    const byName = new Map<string, SafetensorsFile>();
    for (const f of files) {
      const st = SafetensorsFile.open(f);
      for (const name of st.tensors.keys()) byName.set(name, st);
    }
    return new TensorSource(byName);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  file(name: string): SafetensorsFile {
    const f = this.byName.get(name);
    if (!f) throw new Error(`the golden file has no tensor "${name}"`);
    return f;
  }
}

/** A reference run's settings, named as in the reference's config (`n_timesteps`, `guidance_scale`, ...). */
type GoldenSettings = Readonly<Record<string, unknown>>;

/** The golden's settings over the reference defaults. */
function goldenParameters(settings: GoldenSettings): JobParameters {
  const params: JobParameters = { ...REFERENCE_PARAMETERS };
  for (const p of PARAMETERS) {
    const value = settings['referenceKey' in p ? p.referenceKey : p.key];
    if (typeof value === 'number') params[p.key] = value;
  }
  return params;
}

function readSettings(goldenFile: string, explicit: string | undefined): GoldenSettings {
  const candidate = explicit ?? goldenFile.replace(/\.safetensors$/, '.json');
  if (!fs.existsSync(candidate)) {
    if (explicit) throw new Error(`${explicit}: no such file`);
    return {};
  }
  const json = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { settings?: GoldenSettings } & GoldenSettings;
  return json.settings ?? json;
}

export async function debugTokenflow(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, {
    model: { type: 'string' },
    golden: { type: 'string' },
    out: { type: 'string' },
    settings: { type: 'string' },
    'step0-out': { type: 'string' },
    'cache-dir': { type: 'string' },
    ...providerOptions,
  });
  const choice = providerChoice(values);
  for (const opt of ['model', 'golden', 'out'] as const) if (!values[opt]) throw new UsageError(`--${opt} is required`);
  const { writeSafetensors } = await import('../runtime/safetensors.ts');
  const { editClip } = await import('../pipeline/edit_clip.ts');
  const { blendWeights } = await import('../pipeline/blend.ts');
  const { resolveModel } = await import('../hub/catalog.ts');

  const runtime = productRuntime();
  const golden = await TensorSource.open(values.golden!);
  const frameInfo = golden.file('frames').info('frames');
  if (frameInfo.dtype !== 'U8' || frameInfo.shape.length !== 4 || frameInfo.shape[3] !== 3) {
    throw new Error(`${values.golden}: "frames" must be U8 [N, H, W, 3], got ${frameInfo.dtype} [${frameInfo.shape}]`);
  }
  const [n, height, width] = frameInfo.shape as [number, number, number, number];
  const ids = golden.file('text.input_ids').readInts('text.input_ids');
  const seq = golden.file('text.input_ids').info('text.input_ids').shape[1]!;
  const idRows = [0, 1, 2].map((r) => ids.slice(r * seq, (r + 1) * seq));
  const params = goldenParameters(readSettings(values.golden!, values.settings));
  const steps = params.steps;
  let pivots: number[][] | undefined;
  if (golden.has('pivots')) {
    const flat = golden.file('pivots').readInts('pivots');
    const k = golden.file('pivots').info('pivots').shape[1]!;
    pivots = Array.from({ length: flat.length / k }, (_, s) => flat.slice(s * k, (s + 1) * k));
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-debug-'));
  try {
    const framesPath = path.join(work, 'frames.rgb');
    fs.writeFileSync(framesPath, golden.file('frames').readBytes('frames'));
    const modelDir = await resolveModel(values.model!);
    const { resolveEditSchedule } = await import('../pipeline/schedule.ts');
    const schedule = await resolveEditSchedule(modelDir, steps, params.inversion_steps);
    const timesteps = schedule.schedules.edit;
    const out: Array<[string, TensorToWrite]> = [];
    const latentDims: number[] = [];
    const xSteps: Float32Array[] = [];
    let inverted: { timesteps: number[]; data: Float32Array } | undefined;
    let decoded: Float32Array | undefined;
    const step0: Array<[string, TensorToWrite]> = [];
    const started = Date.now();
    const result = await editClip({
      modelDir,
      frames: { path: framesPath, width, height, count: n },
      prompts: { ids: idRows },
      params,
      schedule,
      pivots,
      outputPath: path.join(work, 'edited.rgb'),
      workDir: work,
      caches: [],
      runtime: {
        providers: choice.providers ?? runtime.providers ?? ['cpu'],
        dtype: choice.dtype ?? runtime.dtype,
        conversionCacheDir: values['cache-dir'] ?? runtime.conversionCacheDir,
        log: (l) => console.error(l),
      },
      onProgress: ({ stage, done, total }) => {
        if (done === total) console.error(`${stage}: ${done}/${total}`);
      },
      onLog: (level, text) => console.error(`${level}: ${text}`),
      capture: {
        text: (_ids, embeds) => {
          const d = embeds[0]!.length / seq;
          out.push(['text.embeds', { dtype: 'F32', shape: [3, seq, d], data: concat(embeds) }]);
        },
        store: (store) => {
          const { frames, channels, height: h, width: w } = store.layout;
          latentDims.push(frames, channels, h, w);
          out.push(['z0', { dtype: 'F32', shape: [...latentDims], data: store.readZ0() }]);
          const ts = golden.has('inverted.timesteps') ? golden.file('inverted.timesteps').readInts('inverted.timesteps') : timesteps;
          inverted = { timesteps: ts, data: concat(ts.map((t) => store.read(t))) };
        },
        start: (epsHat, xStart) => {
          out.push(['eps_hat', { dtype: 'F32', shape: [...latentDims], data: epsHat }]);
          out.push(['x_start', { dtype: 'F32', shape: [...latentDims], data: xStart }]);
          xSteps.push(xStart);
        },
        step: (_s, x) => xSteps.push(x),
        decoded: (first, unit, count) => {
          decoded ??= new Float32Array(n * 3 * height * width);
          decoded.set(unit.subarray(0, count * 3 * height * width), first * 3 * height * width);
        },
      },
      debugTensors: values['step0-out']
        ? {
          steps: [0],
          onTensor: (_s, name, dims, data) => step0.push([name, data instanceof BigInt64Array ? { dtype: 'I64', shape: dims, data } : { dtype: 'F32', shape: dims, data }]),
        }
        : undefined,
    });
    out.push(['frames', { dtype: 'U8', shape: frameInfo.shape, data: new Uint8Array(fs.readFileSync(framesPath)) }]);
    out.push(['text.input_ids', { dtype: 'I64', shape: [3, seq], data: BigInt64Array.from(ids.map(BigInt)) }]);
    out.push(['inverted.timesteps', { dtype: 'I64', shape: [inverted!.timesteps.length], data: BigInt64Array.from(inverted!.timesteps.map(BigInt)) }]);
    out.push(['inverted.latents', { dtype: 'F32', shape: [inverted!.timesteps.length, ...latentDims], data: inverted!.data }]);
    out.push(['timesteps', { dtype: 'I64', shape: [steps], data: BigInt64Array.from(timesteps.map(BigInt)) }]);
    const k = result.pivots[0]!.length;
    out.push(['pivots', { dtype: 'I64', shape: [steps, k], data: BigInt64Array.from(result.pivots.flat().map(BigInt)) }]);
    out.push(['x_steps', { dtype: 'F32', shape: [xSteps.length, ...latentDims], data: concat(xSteps) }]);
    out.push(['blend_weights', { dtype: 'F32', shape: [params.batch_size], data: blendWeights(params.batch_size) }]);
    out.push(['decoded', { dtype: 'F32', shape: [n, 3, height, width], data: decoded! }]);
    writeSafetensors(values.out!, out, { tool: 'tokenflow debug tokenflow', model: modelDir });
    if (values['step0-out']) writeSafetensors(values['step0-out'], step0, { tool: 'tokenflow debug tokenflow', model: modelDir });
    const written = new Set(out.map(([name]) => name));
    const missing = golden.names.filter((name) => !written.has(name));
    const st = result.stats;
    console.error(`UNet evaluations: inversion ${st.invertUnetEvaluations} in ${st.invertUnetCalls} calls, edit ${st.editUnetEvaluations} in ${st.editUnetCalls} calls`);
    console.error(`wrote ${out.length} tensors to ${values.out}${values['step0-out'] ? ` and ${step0.length} to ${values['step0-out']}` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s` +
      `${missing.length ? `; not produced (golden-only): ${missing.join(', ')}` : ''}`);
    return 0;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The `tokenflow` row of `tokenflow debug`. */
export const tokenflowCommand: Command = { help, run: debugTokenflow };
