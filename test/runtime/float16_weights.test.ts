// Half-precision weights for float16 graphs: the float32 -> half rounding, and the one-time
// conversion of a checkpoint into the conversion cache (fp16 checkpoints are used as they are).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { halfToFloat, SafetensorsFile, toFloat16, writeSafetensors } from '../../companion/runtime/safetensors.ts';
import { WeightStore } from '../../companion/runtime/weights.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-f16-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('toFloat16 returns every half exactly and rounds to nearest even (subnormals, overflow, NaN)', () => {
  const halves = Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0);
  const back = toFloat16(Float32Array.from(halves, halfToFloat));
  halves.forEach((h, i) => {
    if (h === 0x8000) assert.equal(back[i], 0x8000); // -0 keeps its sign
    else assert.equal(back[i], h, `half 0x${h.toString(16)}`);
  });
  const cases: [number, number][] = [
    [1 + 2 ** -11, 0x3c00], // a tie between 1 and 1 + 2^-10 rounds to even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // a tie rounding up to even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [2 ** -25, 0x0000], // half the smallest subnormal: a tie, to even (0)
    [3 * 2 ** -26, 0x0001], // above that: the smallest subnormal
    [3 * 2 ** -25, 0x0002], // tie between subnormals 1 and 2: to even
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up out of the subnormals into the smallest normal
    [65504, 0x7bff],
    [65519, 0x7bff], // below the midpoint to 65536
    [65520, 0x7c00], // the midpoint: rounds to even, which is Infinity
    [-1e6, 0xfc00],
  ];
  for (const [value, want] of cases) assert.equal(toFloat16(Float32Array.of(value))[0], want, `${value}`);
  assert.equal(toFloat16(Float32Array.of(NaN))[0]! & 0x7e00, 0x7e00);
});

function checkpoint(name: string, dtype: 'F32' | 'F16', big = 0.5): string {
  const file = join(dir, name);
  const values = Float32Array.from({ length: 12 }, (_, i) => (i === 5 ? big : i / 7 - 0.8));
  writeSafetensors(file, {
    'conv.weight': { dtype, shape: [3, 4], data: dtype === 'F32' ? values : toFloat16(values) },
    'position_ids': { dtype: 'I64', shape: [3], data: BigInt64Array.of(0n, 1n, 2n) },
  });
  return file;
}

test('fp32 weights are converted once to an fp16 cache file for float16 graphs; non-float tensors are copied', () => {
  const cache = join(dir, 'cache');
  const src = checkpoint('w32.safetensors', 'F32');
  const first = WeightStore.open('unet', [src], { conversionCacheDir: cache, dtype: 'float16' });
  const ref = first.root().get('conv.weight');
  assert.equal(ref.dtype, 'F16');
  assert.match(ref.file, /w32-[0-9a-f]{16}\.f16\.safetensors$/);
  const want = toFloat16(SafetensorsFile.open(src).readFloat32('conv.weight'));
  assert.deepEqual(new Uint16Array(Uint8Array.from(SafetensorsFile.open(ref.file).readBytes('conv.weight')).buffer), want);
  assert.equal(first.root().get('position_ids').dtype, 'I64');
  const mtime = statSync(ref.file).mtimeMs;
  const second = WeightStore.open('unet', [src], { conversionCacheDir: cache, dtype: 'float16' });
  assert.equal(second.root().get('conv.weight').file, ref.file);
  assert.equal(statSync(ref.file).mtimeMs, mtime, 'the cached file is reused, not rewritten');
  // The float32 copy of the same checkpoint is a different file, so both dtypes can be cached.
  assert.equal(WeightStore.open('unet', [src], { conversionCacheDir: cache }).root().get('conv.weight').file, src);
});

test('an fp16 checkpoint is used as it is by a float16 graph', () => {
  const src = checkpoint('w16.safetensors', 'F16');
  const store = WeightStore.open('unet', [src], { conversionCacheDir: join(dir, 'unused-cache'), dtype: 'float16' });
  const ref = store.root().get('conv.weight');
  assert.equal(ref.file, SafetensorsFile.open(src).path);
  assert.equal(ref.dtype, 'F16');
});

test('a weight beyond the float16 range fails the conversion, naming the weight', () => {
  const src = checkpoint('huge.safetensors', 'F32', 70000);
  assert.throws(
    () => WeightStore.open('unet', [src], { conversionCacheDir: join(dir, 'cache-huge'), dtype: 'float16' }),
    /huge\.safetensors: weight "conv\.weight" holds 70000, beyond the float16 range/,
  );
});
