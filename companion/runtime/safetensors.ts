// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
// 8-byte little-endian header length N, N bytes of JSON, then raw little-endian tensor bytes.
// Opening a file reads and validates the header only; tensor bytes are read on demand, so a
// multi-gigabyte UNet costs nothing until a tensor is asked for (ONNX Runtime mmaps them itself).
import { closeSync, fstatSync, openSync, readSync, realpathSync, writeSync, fsyncSync, renameSync, rmSync } from 'node:fs';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  /** Byte length of the tensor's data. */
  length: number;
}

export class SafetensorsError extends Error {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

/** Largest header we accept; real files have headers of a few hundred kB. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsFile {
  private constructor(
    /** Resolved real path (the Hugging Face cache links snapshots into blobs). */
    readonly path: string,
    readonly size: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  static open(file: string): SafetensorsFile {
    let real: string;
    try {
      real = realpathSync(file);
    } catch {
      throw new SafetensorsError(file, 'file not found');
    }
    const fd = openSync(real, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new SafetensorsError(file, `too short to be a safetensors file (${size} bytes)`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLength = Number(lenBuf.readBigUInt64LE(0));
      if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
        throw new SafetensorsError(file, `not a safetensors file (header length ${headerLength}, file size ${size})`);
      }
      const headerBuf = Buffer.alloc(headerLength);
      readSync(fd, headerBuf, 0, headerLength, 8);
      const { tensors, metadata } = parseHeader(file, headerBuf, 8 + headerLength, size);
      return new SafetensorsFile(real, size, tensors, metadata);
    } finally {
      closeSync(fd);
    }
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(this.path, `no tensor named "${name}"`);
    return info;
  }

  /** Raw bytes of one tensor. */
  readBytes(name: string): Buffer {
    const { offset, length } = this.info(name);
    const buf = Buffer.alloc(length);
    const fd = openSync(this.path, 'r');
    try {
      let done = 0;
      while (done < length) done += readSync(fd, buf, done, length - done, offset + done);
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** A floating-point tensor as float32 (F16 and BF16 are widened exactly). */
  readFloat32(name: string): Float32Array {
    const info = this.info(name);
    return toFloat32(this.readBytes(name), info.dtype, `${this.path}: ${name}`);
  }

  /** An integer tensor (I64/I32/U8...) as plain numbers. */
  readInts(name: string): number[] {
    const info = this.info(name);
    const bytes = this.readBytes(name);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = info.length / DTYPE_BYTES[info.dtype];
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      switch (info.dtype) {
        case 'I64': out[i] = Number(view.getBigInt64(i * 8, true)); break;
        case 'I32': out[i] = view.getInt32(i * 4, true); break;
        case 'I16': out[i] = view.getInt16(i * 2, true); break;
        case 'I8': out[i] = view.getInt8(i); break;
        case 'U8': case 'BOOL': out[i] = view.getUint8(i); break;
        default: throw new SafetensorsError(this.path, `${name} is ${info.dtype}, not an integer tensor`);
      }
    }
    return out;
  }
}

function parseHeader(file: string, headerBuf: Buffer, dataStart: number, size: number) {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBuf.toString('utf8'));
  } catch {
    throw new SafetensorsError(file, 'header is not valid JSON (not a safetensors file?)');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(file, 'header is not a JSON object');
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const dataLength = size - dataStart;
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = entry?.dtype as DType;
    if (!(dtype in DTYPE_BYTES)) throw new SafetensorsError(file, `tensor "${name}" has unsupported dtype ${String(entry?.dtype)}`);
    const shape = entry.shape;
    const offsets = entry.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(file, `tensor "${name}" has an invalid shape`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new SafetensorsError(file, `tensor "${name}" has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      throw new SafetensorsError(file, `tensor "${name}" is ${end - begin} bytes, its shape [${shape}] and ${dtype} need ${expected}`);
    }
    if (end > dataLength) {
      throw new SafetensorsError(file, `tensor "${name}" ends at byte ${dataStart + end} but the file has ${size} bytes (truncated download?)`);
    }
    tensors.set(name, { name, dtype, shape: shape as number[], offset: dataStart + begin, length: end - begin });
  }
  return { tensors, metadata };
}

export function toFloat32(bytes: Uint8Array, dtype: DType, what: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(bytes.byteLength / 2);
      const table = halfTable();
      for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(i * 2, true)]!;
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(bytes.byteLength / 2);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F64': {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    default:
      throw new Error(`${what} is ${dtype}, not a floating-point tensor`);
  }
}

let halfLookup: Float32Array | undefined;
/** All 65536 half-precision values widened, so converting a large fp16 checkpoint is a table lookup. */
function halfTable(): Float32Array {
  if (!halfLookup) {
    halfLookup = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfLookup[h] = halfToFloat(h);
  }
  return halfLookup;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * float32 -> IEEE half bit patterns, rounding to nearest even (as torch's `.half()`), with
 * subnormal halves kept and values beyond the half range becoming +-Infinity.
 */
export function toFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    const mant = b & 0x7fffff;
    const e = exp - 127 + 15; // the half's biased exponent
    let h: number;
    let rest: number;
    let halfway: number;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); // Infinity, or a quiet NaN
      continue;
    } else if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    } else if (e > 0) {
      h = (e << 10) | (mant >>> 13);
      rest = mant & 0x1fff;
      halfway = 0x1000;
    } else if (e >= -10) {
      // A subnormal half: units of 2^-24, from the 24-bit significand with its implicit 1.
      const shift = 14 - e;
      const significand = mant | 0x800000;
      h = significand >>> shift;
      rest = significand & ((1 << shift) - 1);
      halfway = 1 << (shift - 1);
    } else {
      out[i] = sign; // below half the smallest subnormal
      continue;
    }
    if (rest > halfway || (rest === halfway && (h & 1))) h++; // a carry may round up to the next exponent or Infinity
    out[i] = sign | h;
  }
  return out;
}

type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

export interface TensorToWrite {
  dtype: DType;
  shape: number[];
  /** The values, or a function producing them when written (so only one tensor is in memory). */
  data: TensorData | (() => TensorData);
}

/**
 * Writes a safetensors file atomically (temp file, fsync, rename), streaming tensor by tensor
 * so that large conversions never hold two copies in memory.
 */
export function writeSafetensors(
  file: string,
  tensors: Record<string, TensorToWrite> | Iterable<[string, TensorToWrite]>,
  metadata: Record<string, string> = {},
): void {
  const entries = Symbol.iterator in tensors ? [...(tensors as Iterable<[string, TensorToWrite]>)] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const length = n * DTYPE_BYTES[t.dtype];
    if (typeof t.data !== 'function' && t.data.byteLength !== length) throw new Error(`${name}: data has ${t.data.byteLength} bytes, shape [${t.shape}] ${t.dtype} needs ${length}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeAll(fd, lenBuf);
    writeAll(fd, headerBytes);
    for (const [name, t] of entries) {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
      if (data.byteLength !== expected) throw new Error(`${name}: data has ${data.byteLength} bytes, shape [${t.shape}] ${t.dtype} needs ${expected}`);
      writeAll(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw err;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}
