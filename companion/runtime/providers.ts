// The execution providers the product knows, the order each platform tries them in, and the
// graph form each one gets. No ORT import:
// the config module and the CLI parse provider names without loading ONNX Runtime.
import type { GraphDType } from './graph.ts';

export const PROVIDERS = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const PRECISIONS = ['float32', 'float16'] as const satisfies readonly GraphDType[];

/**
 * CoreML session flags: MLProgram format (0x010; flags 0 is the old NeuralNetwork format,
 * without LayerNorm, InstanceNorm or Erf) and subgraphs (0x002, for If).
 */
export const COREML_FLAGS = 0x010 | 0x002;

/** What the Linux default order depends on: facts of the machine, injected for tests. */
export interface LinuxGpuFacts {
  /** ORT's CUDA provider libraries are installed (the opt-in download). */
  cudaInstalled: () => boolean;
  /** A GPU device node exists (/dev/dri/renderD*, /dev/nvidia*). */
  gpuDevicePresent: () => boolean;
}

/**
 * Default order, CPU always last: Windows DirectML then WebGPU (D3D12); Apple Silicon WebGPU
 * (Metal), CoreML only when asked for; Linux x64 CUDA when its opt-in libraries are
 * installed, then WebGPU (Vulkan) when the machine has a GPU device: without one the only
 * Vulkan adapter is Mesa's software driver (lavapipe), which runs the tiny UNets 25-55x
 * slower than the CPU provider (README, Benchmarks and "Execution providers"). Elsewhere (linux-arm64) only the CPU ships.
 */
export function defaultProviders(platform: NodeJS.Platform, arch: string, linux: LinuxGpuFacts): Provider[] {
  if (platform === 'win32') return ['dml', 'webgpu', 'cpu'];
  if (platform === 'darwin') return arch === 'arm64' ? ['webgpu', 'cpu'] : ['cpu'];
  if (platform !== 'linux' || arch !== 'x64') return ['cpu'];
  const gpu = linux.gpuDevicePresent();
  return [...(linux.cudaInstalled() ? ['cuda' as const] : []), ...(gpu ? ['webgpu' as const] : []), 'cpu'];
}

/** A comma list of provider names (TOKENFLOW_PROVIDERS, --provider), tried in order. */
export function parseProviders(raw: string, source: string): Provider[] {
  const names = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (!names.length) throw new Error(`${source} names no execution provider (one or more of ${PROVIDERS.join(', ')}, comma-separated)`);
  for (const name of names) {
    if (!(PROVIDERS as readonly string[]).includes(name)) {
      throw new Error(`${source}: unknown execution provider "${name}" (one of ${PROVIDERS.join(', ')})`);
    }
  }
  return [...new Set(names)] as Provider[];
}

/** float32 or float16 (TOKENFLOW_PRECISION, --precision). */
export function parsePrecision(raw: string, source: string): GraphDType {
  const value = raw.trim();
  if (!(PRECISIONS as readonly string[]).includes(value)) throw new Error(`${source} must be float32 or float16, got "${raw}"`);
  return value as GraphDType;
}

/** The graph precision each provider gets by default: float16 on GPUs, float32 on the CPU. */
export function providerDType(provider: Provider): GraphDType {
  return provider === 'cpu' ? 'float32' : 'float16';
}

/**
 * The form a provider's graphs take, chosen from what it runs natively:
 * - `linear`: com.microsoft FusedMatMul (transB on the stored weight) where the provider has
 *   it (CPU, CUDA, DirectML), else MatMul on the transposed weight + Add (WebGPU, CoreML).
 * - `attention` (16-bit) and `float32Attention`: com.microsoft MultiHeadAttention where the
 *   provider has it, else explicit MatMul-Softmax-MatMul (CoreML). WebGPU computes float32
 *   attention explicitly too: its MultiHeadAttention, measured on Mesa's lavapipe against
 *   the CPU in float32, is off by up to 3e-2 for sequences of 32 tokens or more at head size
 *   8 (1e-3 at head size 64), where MatMul-Softmax-MatMul on WebGPU agrees to 1e-6.
 * - `halfAttention`: float16 graphs may run attention in float16 (fused flash/memory-efficient
 *   kernels on CUDA and WebGPU). Not on the CPU, which computes float16 in float32 anyway
 *   with casts around each op; models that ask for float32 attention (upcast_attention) get it
 *   everywhere.
 */
export type AttentionForm = 'MultiHeadAttention' | 'MatMulSoftmax';

export interface GraphVariant {
  /** Part of the graph cache key. */
  name: string;
  linear: 'FusedMatMul' | 'MatMul';
  attention: AttentionForm;
  float32Attention: AttentionForm;
  halfAttention: boolean;
}

const VARIANTS: Record<Provider, GraphVariant> = {
  cpu: { name: 'cpu', linear: 'FusedMatMul', attention: 'MultiHeadAttention', float32Attention: 'MultiHeadAttention', halfAttention: false },
  cuda: { name: 'cuda', linear: 'FusedMatMul', attention: 'MultiHeadAttention', float32Attention: 'MultiHeadAttention', halfAttention: true },
  dml: { name: 'dml', linear: 'FusedMatMul', attention: 'MultiHeadAttention', float32Attention: 'MultiHeadAttention', halfAttention: true },
  webgpu: { name: 'webgpu', linear: 'MatMul', attention: 'MultiHeadAttention', float32Attention: 'MatMulSoftmax', halfAttention: true },
  coreml: { name: 'coreml', linear: 'MatMul', attention: 'MatMulSoftmax', float32Attention: 'MatMulSoftmax', halfAttention: true },
};

export function graphVariant(provider: Provider): GraphVariant {
  return VARIANTS[provider];
}
