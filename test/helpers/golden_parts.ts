// Opens a golden safetensors file that test/fixtures/tools/split_tokenflow_golden.ts split into
// `<base>.part<i>.safetensors` parts (whole tensors per part) as if it were one file.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, type TensorInfo } from '../../companion/runtime/safetensors.ts';

export class GoldenParts {
  private readonly byName = new Map<string, SafetensorsFile>();

  private constructor(readonly what: string, files: SafetensorsFile[]) {
    for (const f of files) for (const name of f.tensors.keys()) this.byName.set(name, f);
  }

  /** `dir/<base>.part0.safetensors`, `...part1...`, in part order. */
  static open(dir: string, base: string): GoldenParts {
    const parts = readdirSync(dir)
      .map((f) => ({ f, m: new RegExp(`^${base.replace(/\./g, '\\.')}\\.part(\\d+)\\.safetensors$`).exec(f) }))
      .filter((p) => p.m)
      .sort((a, b) => Number(a.m![1]) - Number(b.m![1]));
    if (!parts.length) throw new Error(`${dir}: no ${base}.part*.safetensors (run test/fixtures/tools/split_tokenflow_golden.ts)`);
    return new GoldenParts(join(dir, base), parts.map((p) => SafetensorsFile.open(join(dir, p.f))));
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  readFloat32(name: string): Float32Array {
    return this.file(name).readFloat32(name);
  }

  readInts(name: string): number[] {
    return this.file(name).readInts(name);
  }

  readBytes(name: string): Buffer {
    return this.file(name).readBytes(name);
  }

  private file(name: string): SafetensorsFile {
    const f = this.byName.get(name);
    if (!f) throw new Error(`${this.what}: no tensor named "${name}"`);
    return f;
  }
}
