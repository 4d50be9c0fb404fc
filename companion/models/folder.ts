// Locating a component's weights in a diffusers folder: `<component>/<base>.safetensors`,
// its fp16 variant `<base>.fp16.safetensors`, or shards listed in `<base>.safetensors.index.json`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WeightStore } from '../runtime/weights.ts';

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

export function openComponentWeights(modelDir: string, component: string, conversionCacheDir?: string): WeightStore {
  return WeightStore.open(component, componentWeightFiles(modelDir, component), { conversionCacheDir });
}
