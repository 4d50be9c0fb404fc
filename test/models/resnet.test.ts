import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downsample2D, upsample2D } from '../../companion/models/resnet.ts';
import { Graph } from '../../companion/runtime/graph.ts';
import { writeSafetensors } from '../../companion/runtime/safetensors.ts';
import { createSession, run, ort } from '../../companion/runtime/session.ts';
import { WeightStore } from '../../companion/runtime/weights.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-resnet-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A 3x3 conv that copies its input (centre tap 1 on the diagonal), so the resize is visible. */
function identityConvStore(name: string, C: number): WeightStore {
  const weight = new Float32Array(C * C * 9);
  for (let c = 0; c < C; c++) weight[(c * C + c) * 9 + 4] = 1;
  const file = join(tmp, `${name}.safetensors`);
  writeSafetensors(file, { [`${name}.conv.weight`]: { dtype: 'F32', shape: [C, C, 3, 3], data: weight }, [`${name}.conv.bias`]: { dtype: 'F32', shape: [C], data: new Float32Array(C) } });
  return WeightStore.open('test', [file]);
}

/** torch F.interpolate(mode="nearest", size=...) source index (UpSample.h nearest_idx, float scale). */
function torchNearest(dst: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  return Math.min(Math.floor(Math.fround(dst * Math.fround(inSize / outSize))), inSize - 1);
}

test('Upsample2D resizes to the skip tensor size with torch nearest semantics (9x15 -> 17x29) and doubles otherwise', async () => {
  const C = 2;
  const store = identityConvStore('up', C);
  const g = new Graph('upsample');
  const x = g.input('x', 'float32', [1, C, 'h', 'w']);
  const skip = g.input('skip', 'float32', [1, 1, 'H', 'W']);
  g.output(upsample2D(g, store.root().pp('up'), x, C, skip), 'to_skip');
  g.output(upsample2D(g, store.root().pp('up'), x, C), 'doubled');
  store.assertAllUsed();
  const session = await createSession(g, { providers: ['cpu'] });
  const [h, w, H, W] = [9, 15, 17, 29];
  const data = Float32Array.from({ length: C * h * w }, (_, i) => i);
  const out = await run(session, {
    x: new ort.Tensor('float32', data, [1, C, h, w]),
    skip: new ort.Tensor('float32', new Float32Array(H * W), [1, 1, H, W]),
  });
  assert.deepEqual(out.to_skip!.dims, [1, C, H, W]);
  assert.deepEqual(out.doubled!.dims, [1, C, 2 * h, 2 * w]);
  const got = out.to_skip!.data as Float32Array;
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
    const want = data[(c * h + torchNearest(y, h, H)) * w + torchNearest(xx, w, W)]!;
    assert.equal(got[(c * H + y) * W + xx], want, `c${c} y${y} x${xx}`);
  }
  const doubled = out.doubled!.data as Float32Array;
  assert.equal(doubled[(1 * 2 * h + 5) * 2 * w + 7], data[(1 * h + 2) * w + 3]);
});

test('Downsample2D: padding 1 gives ceil(n/2); padding 0 pads bottom/right only (the VAE form)', async () => {
  const C = 1;
  const store = identityConvStore('down', C);
  const g = new Graph('downsample');
  const x = g.input('x', 'float32', [1, C, 'h', 'w']);
  g.output(downsample2D(g, store.root().pp('down'), x, C, { padding: 1 }), 'pad1');
  g.output(downsample2D(g, store.root().pp('down'), x, C, { padding: 0 }), 'pad0');
  const session = await createSession(g, { providers: ['cpu'] });
  const data = Float32Array.from({ length: 9 * 15 }, (_, i) => i + 1);
  const out = await run(session, { x: new ort.Tensor('float32', data, [1, 1, 9, 15]) });
  assert.deepEqual(out.pad1!.dims, [1, 1, 5, 8]);
  assert.deepEqual(out.pad0!.dims, [1, 1, 4, 7]);
  // The identity kernel's centre reads x[2i, 2j] with padding 1, x[2i+1, 2j+1] with padding 0.
  assert.equal((out.pad1!.data as Float32Array)[1 * 8 + 2], data[2 * 15 + 4]);
  assert.equal((out.pad0!.data as Float32Array)[1 * 7 + 2], data[3 * 15 + 5]);
});
