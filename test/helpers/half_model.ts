// A copy of a single-file diffusers model folder whose weights are also (or only) an fp16
// variant, `<base>.fp16.safetensors`, the way the Hugging Face hub ships SD checkpoints.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, toFloat16, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';

/** Writes `dst/<component>/` for each component: config.json, the fp16 variant, and with `keepFloat32` the original weights. */
export function writeHalfVariant(src: string, dst: string, components: string[], opts: { keepFloat32: boolean }): void {
  for (const component of components) {
    const from = join(src, component);
    const to = join(dst, component);
    mkdirSync(to, { recursive: true });
    copyFileSync(join(from, 'config.json'), join(to, 'config.json'));
    const weights = readdirSync(from).filter((f) => f.endsWith('.safetensors'));
    if (weights.length !== 1) throw new Error(`${from}: expected one safetensors file, found ${weights.length}`);
    const file = weights[0]!;
    if (opts.keepFloat32) copyFileSync(join(from, file), join(to, file));
    const source = SafetensorsFile.open(join(from, file));
    const tensors = [...source.tensors.values()].map((t): [string, TensorToWrite] => [t.name, t.dtype === 'F32'
      ? { dtype: 'F16', shape: t.shape, data: toFloat16(source.readFloat32(t.name)) }
      : { dtype: t.dtype, shape: t.shape, data: new Uint8Array(source.readBytes(t.name)) }]);
    writeSafetensors(join(to, file.replace(/\.safetensors$/, '.fp16.safetensors')), tensors);
  }
}
