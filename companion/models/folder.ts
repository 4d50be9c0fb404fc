// Locating a component's weights in a diffusers folder: `<component>/<base>.safetensors`,
// its fp16 variant `<base>.fp16.safetensors`, or shards listed in `<base>.safetensors.index.json`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../runtime/safetensors.ts';
import type { GraphDType } from '../runtime/graph.ts';
import { WeightStore, WEIGHT_DTYPE, firstTensorNotIn } from '../runtime/weights.ts';

const BASES = ['diffusion_pytorch_model', 'model'];

export function componentWeightFiles(modelDir: string, component: string, variant?: 'fp16'): string[] {
  const dir = join(modelDir, component);
  const suffixes = variant ? [`.${variant}`, ''] : ['', '.fp16'];
  for (const suffix of suffixes) {
    for (const base of BASES) {
      const single = join(dir, `${base}${suffix}.safetensors`);
      if (existsSync(single)) return [single];
      const index = join(dir, `${base}${suffix}.safetensors.index.json`);
      if (existsSync(index)) {
        const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
        return [...new Set(Object.values(map))].sort().map((f) => join(dir, f));
      }
    }
  }
  throw new Error(`${dir}: no safetensors weights found (expected ${BASES.map((b) => `${b}.safetensors`).join(' or ')}; .bin checkpoints are not supported, convert them to safetensors)`);
}

/**
 * A component's weights for a graph of `dtype`: float32 graphs read the plain checkpoint,
 * float16 graphs its fp16 variant when there is one. Float weights of another type are
 * converted once into `conversionCacheDir`; without a cache folder they fail here, naming
 * one, since ORT would reject the initializers with a type error that names no file.
 */
export function openComponentWeights(modelDir: string, component: string, conversionCacheDir?: string, dtype: GraphDType = 'float32'): WeightStore {
  const files = componentWeightFiles(modelDir, component, dtype === 'float16' ? 'fp16' : undefined);
  if (!conversionCacheDir) {
    for (const file of files) {
      const other = firstTensorNotIn(SafetensorsFile.open(file), WEIGHT_DTYPE[dtype]);
      if (other) throw new Error(`${file}: weight "${other.name}" is ${other.dtype}; pass conversionCacheDir to convert the ${component} weights to ${dtype} once`);
    }
  }
  return WeightStore.open(component, files, { conversionCacheDir, dtype });
}
