// ONNX Runtime sessions. The only module (with tensor.ts) that imports onnxruntime-node.
// Execution providers are tried one at a time in platform order, because ORT does not fall
// back when given a list: `['cuda', 'cpu']` fails outright if CUDA cannot load.
// `InferenceSession.create` and `run` block the calling thread; the daemon therefore runs the
// pipeline (and so every session) in a child process (pipeline_process/host.ts).
// Precision follows the provider (createPolicySession): GPU providers get float16 graphs
// (float32 norms and timestep embedding), the CPU float32 ones, since on x64 CPUs ORT
// computes float16 graphs in float32 anyway with casts around nearly every op.
import './ort_platform.ts'; // first: says why, where onnxruntime-node has no binary to load
import * as ort from 'onnxruntime-node';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { providersFromEnv } from '../config.ts';
import type { Graph, GraphDType } from './graph.ts';
import { COREML_FLAGS, defaultProviders as platformProviders, providerDType, type Provider } from './providers.ts';

export { providerDType, type Provider };

export type MemoryMode = 'fast' | 'low';

export interface SessionOptions {
  /** Providers in the order to try; default: TOKENFLOW_PROVIDERS, else the platform's order ending in cpu. */
  providers?: Provider[];
  /** 'fast' prepacks weights (RAM ~ fp32 weights); 'low' keeps them mmapped and shared. */
  memory?: MemoryMode;
  threads?: number;
  /**
   * ORT's memory patterns (default on): one planned block per set of input shapes, kept in the
   * arena. Off for sessions that alternate between shape sets (TokenFlow's two passes), where
   * each pattern would hold its own block.
   */
  memoryPattern?: boolean;
  log?: (line: string) => void;
  /** Creates the ORT session (default `InferenceSession.create`); tests stand in for a GPU provider with it. */
  create?: (bytes: Uint8Array, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
}

export interface PolicySessionOptions extends SessionOptions {
  /** Graph precision for every provider, overriding providerDType (e.g. float32 on a GPU to rule out float16). */
  dtype?: GraphDType;
}

export interface LoadedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Precision of the graph the session runs, when it was chosen per provider. */
  dtype?: GraphDType;
}

/** A serialised graph and the folder of its external weights. */
export interface ModelBytes {
  bytes: Uint8Array;
  weightsFolder: string | undefined;
}

/** This machine's provider order (providers.ts): GPU providers first, CPU always last. */
export function defaultProviders(platform = process.platform, arch = process.arch): Provider[] {
  return platformProviders(platform, arch, { cudaInstalled: cudaProviderInstalled, gpuDevicePresent: linuxGpuDevicePresent });
}

/** A GPU the kernel exposes: a DRM render node (Mesa, AMD, Intel, NVIDIA) or NVIDIA's own device. */
export function linuxGpuDevicePresent(): boolean {
  const names = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  return names('/dev/dri').some((n) => n.startsWith('renderD')) || names('/dev').some((n) => /^nvidia\d+$/.test(n));
}

/** The CUDA provider library exists only after the opt-in install (ONNXRUNTIME_NODE_INSTALL=1). */
export function cudaProviderInstalled(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const root = dirname(require.resolve('onnxruntime-node/package.json'));
    return existsSync(join(root, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

export async function createSession(graph: Graph, options: SessionOptions = {}): Promise<LoadedSession> {
  return createSessionFromBytes(graph.name, graph.toBytes(), graph.weightsFolder, options);
}

export async function createSessionFromBytes(
  name: string, bytes: Uint8Array, weightsFolder: string | undefined, options: SessionOptions = {},
): Promise<LoadedSession> {
  return tryProviders(name, options, () => ({ bytes, weightsFolder }));
}

/**
 * A session on the first provider that loads, each tried with a graph of its own precision
 * (`options.dtype`, else providerDType): `graphFor` builds (or fetches) that graph. A GPU
 * provider that fails to build or load is skipped; the log line names the provider that runs,
 * its graph's dtype, and why the others were skipped.
 */
export async function createPolicySession(
  name: string, graphFor: (dtype: GraphDType, provider: Provider) => ModelBytes | Promise<ModelBytes>, options: PolicySessionOptions = {},
): Promise<LoadedSession> {
  return tryProviders(name, options, async (provider) => {
    const dtype = options.dtype ?? providerDType(provider);
    return { ...(await graphFor(dtype, provider)), dtype };
  });
}

async function tryProviders(
  name: string, options: SessionOptions, prepare: (provider: Provider) => (ModelBytes & { dtype?: GraphDType }) | Promise<ModelBytes & { dtype?: GraphDType }>,
): Promise<LoadedSession> {
  const log = options.log ?? (() => {});
  const providers = options.providers ?? providersFromEnv() ?? defaultProviders();
  const create = options.create ?? ((bytes, opts) => ort.InferenceSession.create(bytes, opts));
  const failures: string[] = [];
  for (const provider of providers) {
    let model: ModelBytes & { dtype?: GraphDType };
    try {
      model = await prepare(provider);
    } catch (err) {
      if (provider === 'cpu') throw err; // the graph's own error (a weight, a config field), as is
      failures.push(`${provider}: ${skipReason(err)}`);
      continue;
    }
    try {
      const session = await create(model.bytes, sessionOptions(provider, model.weightsFolder, options));
      const precision = model.dtype ? ` with the ${model.dtype} graph` : '';
      log(`${name}: running on ${provider}${precision}${failures.length ? ` (skipped ${failures.join('; ')})` : ''}`);
      return model.dtype ? { session, provider, dtype: model.dtype } : { session, provider };
    } catch (err) {
      if (provider === 'cpu') throw new Error(`${name}: could not create the ONNX Runtime session: ${errorText(err)}`);
      failures.push(`${provider}: ${skipReason(err)}`);
    }
  }
  throw new Error(`${name}: no execution provider could run it (${failures.join('; ')})`);
}

function sessionOptions(provider: Provider, weightsFolder: string | undefined, options: SessionOptions): ort.InferenceSession.SessionOptions {
  const low = options.memory === 'low';
  const sessionConfig: Record<string, string> = {};
  if (weightsFolder) sessionConfig.model_external_initializers_file_folder_path = weightsFolder;
  if (low) sessionConfig.disable_prepacking = '1';
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: [executionProvider(provider)],
    graphOptimizationLevel: low ? 'extended' : 'all',
    extra: { session: sessionConfig },
  };
  if (options.threads) opts.intraOpNumThreads = options.threads;
  if (options.memoryPattern === false) opts.enableMemPattern = false;
  return opts;
}

/** CoreML gets its MLProgram + subgraph flags; the others their defaults. */
export function executionProvider(provider: Provider): ort.InferenceSession.ExecutionProviderConfig {
  return provider === 'coreml' ? { name: 'coreml', coreMlFlags: COREML_FLAGS } : provider;
}

/**
 * The first line of why a provider was skipped, without the source location and failed
 * condition ORT puts before its message (e.g. WebGPU without an adapter: "Failed to get a
 * WebGPU adapter: No supported adapters").
 */
function skipReason(err: unknown): string {
  return errorText(err).split('\n')[0]!.replace(/^\/onnxruntime_src\/\S+ .*? was false\. /, '');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs a session, checking the feeds' names first so a mismatch names what is missing. */
export async function run(
  loaded: LoadedSession, feeds: Record<string, ort.Tensor>, fetches?: string[],
): Promise<Record<string, ort.Tensor>> {
  const { session } = loaded;
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) throw new Error(`missing input(s) ${missing.join(', ')}; expected ${session.inputNames.join(', ')}`);
  try {
    return (fetches ? await session.run(feeds, fetches) : await session.run(feeds)) as Record<string, ort.Tensor>;
  } catch (err) {
    const dims = Object.entries(feeds).map(([k, t]) => `${k}: ${t.type}[${t.dims.join(',')}]`).join(', ');
    throw new Error(`${errorText(err)} (inputs ${dims})`);
  }
}

export { ort };
