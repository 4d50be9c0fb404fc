// The product's pipeline module (the job runner loads it in the pipeline process): a job's frames,
// settings and folders in, the TokenFlow edit (edit_clip.ts) out. The model is the one the
// job's settings name (the daemon records its default there when the job names none). Inversions are
// cached across jobs in the daemon's data folder (bounded, least recently used evicted first)
// and, when an entry does not fit there, in the job's own cache folder, so a job resumed after
// a restart skips preprocessing either way; the edit checkpoints its latents after every step
// in the job's cache folder, so a resumed job also continues the edit where it stopped.
import fs from 'node:fs';
import path from 'node:path';
import { cacheRoot, inversionCacheBytesFromEnv, precisionFromEnv, processEnv, providersFromEnv, type Env } from '../config.ts';
import { jobModelDir } from './settings_check.ts';
export { jobModelDir } from './settings_check.ts';
import type { RuntimeOptions } from './components.ts';
import { editClip, type EditClipResult } from './edit_clip.ts';
import { PipelineError, type Pipeline, type PipelineHooks, type PipelineInput, type PipelineOutput } from './interface.ts';
import { DEFAULT_INVERSION_CACHE_BYTES, InversionCache, type SourceIdentity } from './inversion_cache.ts';

/**
 * The runtime settings the product runs with: the caches under config's cacheRoot, the providers to try
 * (TOKENFLOW_PROVIDERS, else the platform's order) and the graph precision, float16 on GPU
 * providers and float32 on the CPU unless TOKENFLOW_PRECISION forces one.
 */
export function productRuntime(env: Env = processEnv()): RuntimeOptions {
  let providers, precision;
  try {
    providers = providersFromEnv(env);
    precision = precisionFromEnv(env);
  } catch (err) {
    throw new PipelineError('bad_request', err instanceof Error ? err.message : String(err));
  }
  const root = cacheRoot(env);
  return {
    conversionCacheDir: path.join(root, 'weights'),
    graphCacheDir: path.join(root, 'graphs'),
    ...(providers ? { providers } : {}),
    ...(precision ? { dtype: precision } : {}),
  };
}

/** The shared inversion cache; its bound is TOKENFLOW_INVERSION_CACHE_GB (default 5, 0 = off). */
export function sharedInversionCache(env: Env = processEnv()): InversionCache {
  let bytes;
  try {
    bytes = inversionCacheBytesFromEnv(env) ?? DEFAULT_INVERSION_CACHE_BYTES;
  } catch (err) {
    throw new PipelineError('bad_request', err instanceof Error ? err.message : String(err));
  }
  return new InversionCache(path.join(cacheRoot(env), 'inversion'), bytes);
}


export function sourceIdentity(file: string): SourceIdentity | null {
  try {
    const st = fs.statSync(file);
    return { path: path.resolve(file), size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  }
}

export function describeResult(r: EditClipResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const t = r.stats.timingsMs;
  return `timings: text ${s(t.text)}, invert ${r.cacheHit ? 'cached' : s(t.invert)}, edit ${s(t.editLoad + t.edit)} ` +
    `(editor load ${s(t.editLoad)}), decode ${s(t.decode)}; UNet evaluations: inversion ${r.stats.invertUnetEvaluations}, ` +
    `edit ${r.stats.editUnetEvaluations} in ${r.stats.editUnetCalls} calls`;
}

export interface TokenFlowPipelineOptions {
  /** Over the product's runtime (productRuntime): `tokenflow edit`'s --threads, --provider, --precision. */
  runtime?: Pick<RuntimeOptions, 'threads' | 'providers' | 'dtype'>;
  /** False where the work folders do not outlive the run (`tokenflow edit`): no edit checkpoint. Default true. */
  checkpoint?: boolean;
  /** Receives the edit's statistics, which the caller then reports (default: an info log line). */
  onResult?: (result: EditClipResult) => void;
}

class TokenFlowPipeline implements Pipeline {
  constructor(private readonly options: TokenFlowPipelineOptions) {}

  async run(input: PipelineInput, hooks: PipelineHooks): Promise<PipelineOutput> {
    const { settings, frames } = input;
    const modelDir = await jobModelDir(settings.model);
    const identity = sourceIdentity(frames.source);
    const result = await editClip({
      modelDir,
      frames,
      prompts: { prompt: settings.prompt, negative_prompt: settings.negative_prompt, source_prompt: settings.source_prompt },
      params: settings.parameters,
      previewOnly: input.previewOnly,
      outputPath: path.join(input.workDir, 'edited.rgb'),
      workDir: input.workDir,
      // Survives a restart of the job (kept until the job ends): a resumed edit continues after its last step.
      checkpointDir: this.options.checkpoint === false ? undefined : path.join(input.cacheDir, 'edit-checkpoint'),
      // The job's own folder takes what the shared cache cannot (no bound: it goes with the job).
      caches: [sharedInversionCache(), new InversionCache(path.join(input.cacheDir, 'inversion'), Number.POSITIVE_INFINITY)],
      source: identity ? { identity, startTicks: frames.startTicks, endTicks: frames.endTicks } : null,
      runtime: { ...productRuntime(), ...this.options.runtime, log: (line) => hooks.onLog('debug', line) },
      signal: hooks.signal,
      onProgress: hooks.onProgress,
      onPreview: hooks.onPreview,
      onLog: hooks.onLog,
    });
    if (this.options.onResult) this.options.onResult(result);
    else hooks.onLog('info', describeResult(result));
    return { frames: result.frames, frameIndices: result.frameIndices };
  }
}

/** The pipeline module's export (the daemon's pipeline process); `tokenflow edit` runs it in its own process with options. */
export function createPipeline(options: TokenFlowPipelineOptions = {}): Pipeline {
  return new TokenFlowPipeline(options);
}
