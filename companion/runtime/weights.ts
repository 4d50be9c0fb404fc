// Scoped access to a component's weights by their diffusers names, in the manner of candle's
// VarBuilder: `w.pp('down_blocks').pp(0).pp('resnets').pp(1).get('conv1.weight', [C, C, 3, 3])`.
// The accessor never copies data: it hands out references (file, offset, length) that the
// graph builder turns into external-data initializers. Every read is recorded so a build can
// fail when the checkpoint has weights the graph did not use (a sign of a wrong config).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { GraphDType } from './graph.ts';
import { SafetensorsFile, toFloat16, toFloat32, writeSafetensors, type DType, type TensorInfo, type TensorToWrite } from './safetensors.ts';

export interface WeightRef {
  /** Full diffusers name, e.g. `down_blocks.0.resnets.1.conv1.weight`. */
  name: string;
  dtype: DType;
  shape: number[];
  /** Real path of the safetensors file holding the bytes. */
  file: string;
  offset: number;
  length: number;
}

export class WeightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightError';
  }
}

export interface WeightStoreOptions {
  /**
   * Weights in another dtype than `dtype` are converted once into a safetensors file in this
   * folder and served from there (ORT would otherwise keep a converted copy per session in RAM).
   */
  conversionCacheDir?: string;
  /** The float type the graph wants its weights in (default float32). */
  dtype?: GraphDType;
}

/** The safetensors dtype of a graph dtype's weights. */
export const WEIGHT_DTYPE: Record<GraphDType, 'F32' | 'F16'> = { float32: 'F32', float16: 'F16' };

const FLOAT_DTYPES: readonly DType[] = ['F64', 'F32', 'F16', 'BF16'];

/** The first floating-point tensor of `file` not stored as `target`, if any. */
export function firstTensorNotIn(file: SafetensorsFile, target: DType): TensorInfo | undefined {
  return [...file.tensors.values()].find((t) => FLOAT_DTYPES.includes(t.dtype) && t.dtype !== target);
}

/** All tensors of one model component (one or more safetensors shards). */
export class WeightStore {
  private readonly index = new Map<string, { file: SafetensorsFile; info: TensorInfo }>();
  private readonly used = new Set<string>();

  private constructor(readonly component: string, files: SafetensorsFile[]) {
    for (const file of files) {
      for (const info of file.tensors.values()) this.index.set(info.name, { file, info });
    }
  }

  static open(component: string, paths: string[], options: WeightStoreOptions = {}): WeightStore {
    const files = paths.map((p) => SafetensorsFile.open(p));
    const target = WEIGHT_DTYPE[options.dtype ?? 'float32'];
    const needsConversion = files.some((f) => firstTensorNotIn(f, target));
    if (needsConversion && options.conversionCacheDir) {
      // Every shard, converted or not, must end up in one folder: ORT reads external data from one.
      return new WeightStore(component, files.map((f) => convertFile(f, options.conversionCacheDir!, target)));
    }
    return new WeightStore(component, files);
  }

  get names(): string[] {
    return [...this.index.keys()];
  }

  root(): Weights {
    return new Weights(this, '');
  }


  /** Identity of the weights for cache keys: each file's real path, size and mtime. */
  fingerprint(): string {
    const h = createHash('sha256');
    const files = new Set([...this.index.values()].map((e) => e.file.path));
    for (const f of [...files].sort()) {
      const st = statSync(f);
      h.update(`${f}\0${st.size}\0${st.mtimeMs}\0`);
    }
    return h.digest('hex').slice(0, 16);
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  shapeOf(name: string): number[] | undefined {
    return this.index.get(name)?.info.shape;
  }

  take(name: string, shape: number[] | undefined): WeightRef {
    const entry = this.index.get(name);
    if (!entry) throw new WeightError(`${this.component}: missing weight "${name}"${shape ? ` (expected shape [${shape}])` : ''}`);
    const { info, file } = entry;
    if (shape && !sameShape(info.shape, shape)) {
      throw new WeightError(`${this.component}: weight "${name}" has shape [${info.shape}], expected [${shape}]`);
    }
    this.used.add(name);
    return { name, dtype: info.dtype, shape: info.shape, file: file.path, offset: info.offset, length: info.length };
  }

  /** Reads a weight's values (for the rare constant that must be folded in JS). */
  read(name: string): Float32Array {
    const entry = this.index.get(name);
    if (!entry) throw new WeightError(`${this.component}: missing weight "${name}"`);
    this.used.add(name);
    return entry.file.readFloat32(name);
  }

  /** Names never taken; `ignore` lists known-unused tensors (e.g. `position_ids` buffers). */
  unused(ignore: (name: string) => boolean = () => false): string[] {
    return this.names.filter((n) => !this.used.has(n) && !ignore(n));
  }

  /** Fails when the build left weights unused: the config and the checkpoint disagree. */
  assertAllUsed(ignore?: (name: string) => boolean): void {
    const left = this.unused(ignore);
    if (left.length) {
      const shown = left.slice(0, 10).join(', ');
      throw new WeightError(`${this.component}: ${left.length} weight(s) in the checkpoint were not used by the graph (config mismatch?): ${shown}${left.length > 10 ? ', ...' : ''}`);
    }
  }
}

/** An immutable, cheap view of the store under a name prefix. */
export class Weights {
  constructor(private readonly store: WeightStore, readonly path: string) {}

  /** Descends one diffusers segment (`pp` as in candle: push prefix). */
  pp(segment: string | number): Weights {
    return new Weights(this.store, this.full(String(segment)));
  }

  get(name: string, shape?: number[]): WeightRef {
    return this.store.take(this.full(name), shape);
  }

  has(name: string): boolean {
    return this.store.has(this.full(name));
  }

  shapeOf(name: string): number[] | undefined {
    return this.store.shapeOf(this.full(name));
  }

  read(name: string): Float32Array {
    return this.store.read(this.full(name));
  }

  private full(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Converts a file's floating-point tensors to `dtype` (F32 or F16) once; later opens reuse
 * the cached file.
 */
function convertFile(file: SafetensorsFile, cacheDir: string, dtype: 'F32' | 'F16'): SafetensorsFile {
  const st = statSync(file.path);
  const key = createHash('sha256').update(`${file.path}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
  const target = join(cacheDir, `${basename(file.path, '.safetensors')}-${key}.${dtype.toLowerCase()}.safetensors`);
  if (!existsSync(target)) {
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    // Lazy data: one tensor converted and written at a time, so peak memory stays small.
    const entries: [string, TensorToWrite][] = [...file.tensors.values()].map((info) => {
      const bytes = () => file.readBytes(info.name);
      if (!FLOAT_DTYPES.includes(info.dtype)) return [info.name, { dtype: info.dtype, shape: info.shape, data: () => new Uint8Array(bytes()) }];
      const data = dtype === 'F32'
        ? () => toFloat32(bytes(), info.dtype, info.name)
        : () => halfWeight(toFloat32(bytes(), info.dtype, info.name), info.name, file.path);
      return [info.name, { dtype, shape: info.shape, data }];
    });
    writeSafetensors(target, entries, { converted_from: file.path });
  }
  return SafetensorsFile.open(target);
}

/** A weight in half precision; one with finite values beyond the half range is an error, not Infinity. */
function halfWeight(values: Float32Array, name: string, file: string): Uint16Array {
  const half = toFloat16(values);
  for (let i = 0; i < half.length; i++) {
    if ((half[i]! & 0x7fff) === 0x7c00 && Number.isFinite(values[i]!)) {
      throw new WeightError(`${file}: weight "${name}" holds ${values[i]}, beyond the float16 range (|x| <= 65504); this checkpoint needs a float32 graph`);
    }
  }
  return half;
}
