// Opening a component's weights in a diffusers folder (the file names: diffusers_layout.ts).
import { SafetensorsFile } from '../runtime/safetensors.ts';
import type { GraphDType } from '../runtime/graph.ts';
import { WeightStore, WEIGHT_DTYPE, firstTensorNotIn } from '../runtime/weights.ts';
import { componentWeightFiles, type WeightComponent } from './diffusers_layout.ts';

/**
 * A component's weights for a graph of `dtype`: float32 graphs read the plain checkpoint,
 * float16 graphs its fp16 variant when there is one. Float weights of another type are
 * converted once into `conversionCacheDir`; without a cache folder they fail here, naming
 * one, since ORT would reject the initializers with a type error that names no file.
 */
export function openComponentWeights(modelDir: string, component: WeightComponent, conversionCacheDir?: string, dtype: GraphDType = 'float32'): WeightStore {
  const files = componentWeightFiles(modelDir, component, dtype === 'float16' ? 'fp16' : 'fp32');
  if (!conversionCacheDir) {
    for (const file of files) {
      const other = firstTensorNotIn(SafetensorsFile.open(file), WEIGHT_DTYPE[dtype]);
      if (other) throw new Error(`${file}: weight "${other.name}" is ${other.dtype}; pass conversionCacheDir to convert the ${component} weights to ${dtype} once`);
    }
  }
  return WeightStore.open(component, files, { conversionCacheDir, dtype });
}
