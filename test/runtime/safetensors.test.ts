import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors, halfToFloat } from '../../companion/runtime/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-st-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('round-trips F32 and I64 tensors with metadata', () => {
  const file = join(dir, 'a.safetensors');
  writeSafetensors(file, {
    w: { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 4, 5, 6]) },
    ids: { dtype: 'I64', shape: [3], data: BigInt64Array.from([49406n, 0n, -1n]) },
  }, { format: 'pt' });
  const st = SafetensorsFile.open(file);
  assert.deepEqual(st.info('w').shape, [2, 3]);
  assert.deepEqual([...st.readFloat32('w')], [1, -2, 3.5, 4, 5, 6]);
  assert.deepEqual(st.readInts('ids'), [49406, 0, -1]);
  assert.equal(st.metadata.format, 'pt');
  // header padded to 8 bytes, so data starts aligned
  assert.equal(st.info('w').offset % 8, 0);
});

test('widens F16 and BF16 exactly', () => {
  const file = join(dir, 'h.safetensors');
  // 1.0, -2.0, 65504 (max half), 2^-24 (smallest subnormal)
  const half = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]);
  const bf = Uint16Array.from([0x3f80, 0xc040]); // 1.0, -3.0
  writeSafetensors(file, { h: { dtype: 'F16', shape: [4], data: half }, b: { dtype: 'BF16', shape: [2], data: bf } });
  const st = SafetensorsFile.open(file);
  assert.deepEqual([...st.readFloat32('h')], [1, -2, 65504, 2 ** -24]);
  assert.deepEqual([...st.readFloat32('b')], [1, -3]);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.equal(halfToFloat(0xfc00), -Infinity);
});

test('rejects a truncated file naming the tensor and sizes', () => {
  const file = join(dir, 't.safetensors');
  writeSafetensors(file, { big: { dtype: 'F32', shape: [1000], data: new Float32Array(1000) } });
  const size = readFileSync(file).length;
  truncateSync(file, size - 100);
  assert.throws(() => SafetensorsFile.open(file), /tensor "big" ends at byte \d+ but the file has \d+ bytes \(truncated download\?\)/);
});

test('rejects foreign files and missing files clearly', () => {
  const text = join(dir, 'x.safetensors');
  writeFileSync(text, 'this is not a tensor file at all, just text');
  assert.throws(() => SafetensorsFile.open(text), /not a safetensors file/);
  assert.throws(() => SafetensorsFile.open(join(dir, 'nope.safetensors')), /nope\.safetensors: file not found/);
  const bad = join(dir, 'bad.safetensors');
  const json = Buffer.from('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}');
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(bad, Buffer.concat([len, json, Buffer.alloc(16)]));
  assert.throws(() => SafetensorsFile.open(bad), /tensor "w" is 8 bytes, its shape \[4\] and F32 need 16/);
});

test('reads the real fixture header', () => {
  const st = SafetensorsFile.open('test/fixtures/tiny-sd15/text_encoder/model.safetensors');
  assert.deepEqual(st.info('text_model.embeddings.token_embedding.weight').shape, [49408, 32]);
  assert.equal(st.info('text_model.embeddings.token_embedding.weight').dtype, 'F32');
});
