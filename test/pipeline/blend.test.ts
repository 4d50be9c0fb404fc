import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blendWeights, firstBatchWeights } from '../../companion/pipeline/blend.ts';
import { GoldenParts } from '../helpers/golden_parts.ts';

const GOLDEN = fileURLToPath(new URL('../fixtures/tiny-sdlayout/golden', import.meta.url));

function close(got: Float32Array, want: number[], tol: number): void {
  assert.equal(got.length, want.length);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= tol, `w(${i}) = ${v}, expected ${want[i]}`));
}

test('w(j) matches the spec table for B = 4, 8, 16 and B = 1', () => {
  close(blendWeights(4), [0.622459, 0.679179, 0.731059, 0.697059], 1e-6);
  close(blendWeights(8), [0.622459, 0.651355, 0.679179, 0.705785, 0.731059, 0.710950, 0.697059, 0.686910], 1e-6);
  close(blendWeights(16), [0.622459, 0.637031, 0.651355, 0.665411, 0.679179, 0.692642, 0.705785, 0.718594,
    0.731059, 0.719997, 0.710950, 0.703420, 0.697059, 0.691618, 0.686910, 0.682799], 1e-6);
  close(blendWeights(1), [0.731059], 5e-7);
});

test('w(j) equals the official code\'s blend_weights of the golden run (float32)', () => {
  const golden = GoldenParts.open(GOLDEN, 'tokenflow').readFloat32('blend_weights');
  const ours = blendWeights(4);
  ours.forEach((v, i) => assert.ok(Math.abs(v - golden[i]!) <= 1e-7, `w(${i}) ${v} vs ${golden[i]}`));
});

test('a shorter last batch measures to its own centre and the previous (full) batch centre', () => {
  // size 2 after batches of 4: c = 1, previous centre 2 frames before frame 0.
  const w = blendWeights(4, 2);
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  close(w, [sig(2 / (1 + 2)), sig(3 / (0 + 3))], 1e-7);
  // Every weight stays in the reference's range [sigmoid(0.5), sigmoid(1)].
  for (let size = 1; size <= 16; size++) for (const v of blendWeights(16, size)) assert.ok(v >= 0.6224 && v <= 0.7311, `${v}`);
  assert.deepEqual([...blendWeights(8, 8)], [...blendWeights(8)]);
  assert.deepEqual([...firstBatchWeights(3)], [1, 1, 1]);
  assert.throws(() => blendWeights(4, 5), /batch of 5 frames with batch size 4/);
});
