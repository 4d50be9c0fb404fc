// Which files of a diffusers Stable Diffusion repository the pipeline needs. Repos carry far
// more (PyTorch .bin and .ckpt checkpoints, EMA weights, safety checker, feature extractor,
// ONNX/Flax exports): a pull fetches only these, in the preferred precision where the repo
// has it (`<base>.fp16.safetensors` is diffusers' "fp16 variant" naming).
import type { Sibling } from './hub_client.ts';

export type Precision = 'fp16' | 'fp32';

export const REQUIRED_FILES = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'text_encoder/config.json',
  'unet/config.json',
  'vae/config.json',
] as const;

/** Wanted when the repo has them (the tokenizer falls back to CLIP defaults without them). */
export const OPTIONAL_FILES = ['tokenizer/tokenizer_config.json', 'tokenizer/special_tokens_map.json'] as const;

/** Weight file base name of each component with weights. */
export const WEIGHT_BASES = {
  text_encoder: 'model',
  unet: 'diffusion_pytorch_model',
  vae: 'diffusion_pytorch_model',
} as const;
export type WeightComponent = keyof typeof WEIGHT_BASES;

export interface FilePlan {
  /** Files to fetch, listing entries as the hub gave them. */
  files: Sibling[];
  /** Required files the repo does not have. */
  missing: string[];
  /** Things worth telling the user (a precision fallback, for instance). */
  notes: string[];
}

function weightCandidates(component: WeightComponent, precision: Precision): Array<{ path: string; precision: Precision }> {
  const base = `${component}/${WEIGHT_BASES[component]}`;
  const fp16 = [`${base}.fp16.safetensors`, `${base}.fp16.safetensors.index.json`].map((path) => ({ path, precision: 'fp16' as const }));
  const fp32 = [`${base}.safetensors`, `${base}.safetensors.index.json`].map((path) => ({ path, precision: 'fp32' as const }));
  return precision === 'fp16' ? [...fp16, ...fp32] : [...fp32, ...fp16];
}

export function planPipelineFiles(siblings: Sibling[], precision: Precision): FilePlan {
  const byName = new Map(siblings.map((s) => [s.rfilename, s]));
  const files: Sibling[] = [];
  const missing: string[] = [];
  const notes: string[] = [];
  for (const name of REQUIRED_FILES) {
    const s = byName.get(name);
    if (s) files.push(s);
    else missing.push(name);
  }
  for (const name of OPTIONAL_FILES) {
    const s = byName.get(name);
    if (s) files.push(s);
  }
  for (const component of Object.keys(WEIGHT_BASES) as WeightComponent[]) {
    const found = weightCandidates(component, precision).find((c) => byName.has(c.path));
    if (!found) {
      const hasBin = siblings.some((s) => s.rfilename.startsWith(`${component}/`) && /\.(bin|ckpt|pt)$/.test(s.rfilename));
      missing.push(`${component}/${WEIGHT_BASES[component]}.safetensors${hasBin ? ' (the repo has only PyTorch .bin/.ckpt weights, which are not supported)' : ''}`);
      continue;
    }
    if (found.precision !== precision) {
      notes.push(`${component}: the repo has no ${precision} weights; using ${found.path} (${found.precision})`);
    }
    files.push(byName.get(found.path)!);
  }
  return { files, missing, notes };
}

/** The shard files a `*.safetensors.index.json` names, as paths in the repo. */
export function shardPaths(indexPath: string, indexJson: unknown): string[] {
  const map = (indexJson as { weight_map?: unknown })?.weight_map;
  if (!map || typeof map !== 'object') throw new Error(`${indexPath}: no "weight_map" object`);
  const dir = indexPath.slice(0, indexPath.lastIndexOf('/') + 1);
  const shards = new Set(Object.values(map as Record<string, unknown>).map(String));
  for (const shard of shards) {
    if (!/^[\w.-]+\.safetensors$/.test(shard)) throw new Error(`${indexPath}: weight_map names "${shard}", not a safetensors file in the same folder`);
  }
  return [...shards].sort().map((s) => dir + s);
}
