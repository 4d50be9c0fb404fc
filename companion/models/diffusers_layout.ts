// The diffusers Stable Diffusion pipeline layout, as hub repositories and model folders hold
// it: the files the pipeline reads, and where each component's weights are. A component's
// weights are `<component>/<base>.safetensors`, or shards listed in the weight map
// `<base>.safetensors.index.json` (shards `<base>-00001-of-0000N.safetensors`). The fp16
// variant follows diffusers' and transformers' variant naming, which puts the variant before
// the last extension: `<base>.fp16.safetensors`, the map `<base>.safetensors.index.fp16.json`
// and its shards `<base>.fp16-00001-of-0000N.safetensors`. Everything that names weight files
// (the loader, validation, the pull planner) takes the names from here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

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

/** Weight file base name of each component with weights: diffusers models vs transformers' CLIPTextModel. */
const WEIGHT_BASES = {
  text_encoder: 'model',
  unet: 'diffusion_pytorch_model',
  vae: 'diffusion_pytorch_model',
} as const;
export type WeightComponent = keyof typeof WEIGHT_BASES;
export const WEIGHT_COMPONENTS = Object.keys(WEIGHT_BASES) as WeightComponent[];

const WEIGHT_MAP = /\.safetensors\.index(\.fp16)?\.json$/;

/** The weight map's name: the variant goes before the last extension. */
function weightMapName(base: string, precision: Precision): string {
  return precision === 'fp16' ? `${base}.safetensors.index.fp16.json` : `${base}.safetensors.index.json`;
}

export interface WeightCandidate {
  /** Path in the pipeline folder, '/'-separated. */
  path: string;
  precision: Precision;
}

/**
 * Where a component's weights may be, best first: a single file, then a weight map, in the
 * `preferred` precision, then the same in the other one.
 */
export function weightCandidates(component: WeightComponent, preferred: Precision): WeightCandidate[] {
  const base = `${component}/${WEIGHT_BASES[component]}`;
  const of = (precision: Precision) => {
    const single = precision === 'fp16' ? `${base}.fp16.safetensors` : `${base}.safetensors`;
    return [single, weightMapName(base, precision)].map((path) => ({ path, precision }));
  };
  return preferred === 'fp16' ? [...of('fp16'), ...of('fp32')] : [...of('fp32'), ...of('fp16')];
}

/** The name the weights are expected under, for messages about missing weights. */
export function expectedWeightFile(component: WeightComponent): string {
  return `${WEIGHT_BASES[component]}.safetensors`;
}

export function isWeightMap(path: string): boolean {
  return WEIGHT_MAP.test(path);
}

/** The shard file names a weight map names (files in its folder), sorted; `source` names the map in errors. */
export function weightMapShards(source: string, weightMap: unknown): string[] {
  const map = (weightMap as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object') throw new Error(`${source}: no "weight_map" object`);
  const shards = new Set(Object.values(map as Record<string, unknown>).map(String));
  for (const shard of shards) {
    if (!/^[\w.-]+\.safetensors$/.test(shard)) throw new Error(`${source}: weight_map names "${shard}", not a safetensors file in the same folder`);
  }
  return [...shards].sort();
}

/** Whether `path` is one of the shards a weight map's naming gives (`<base>[.fp16]-00001-of-00002.safetensors`). */
export function isShardOf(weightMapPath: string, path: string): boolean {
  const base = weightMapPath.replace(WEIGHT_MAP, (_, fp16: string | undefined) => fp16 ?? '');
  return path.startsWith(`${base}-`) && /-\d{5}-of-\d{5}\.safetensors$/.test(path);
}

/** The weight files of a component in a model folder: the first candidate present (a weight map gives its shards). */
export function componentWeightFiles(modelDir: string, component: WeightComponent, preferred: Precision = 'fp32'): string[] {
  for (const candidate of weightCandidates(component, preferred)) {
    const file = join(modelDir, candidate.path);
    if (!existsSync(file)) continue;
    if (!isWeightMap(file)) return [file];
    const dir = join(modelDir, component);
    return weightMapShards(file, readJson(file)).map((shard) => join(dir, shard));
  }
  throw new Error(`${join(modelDir, component)}: no safetensors weights found (expected ${expectedWeightFile(component)}; .bin checkpoints are not supported, convert them to safetensors)`);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
}
