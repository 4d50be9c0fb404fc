import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MersenneTwister, batchRanges, checkPivots, drawPivots } from '../../companion/pipeline/pivots.ts';

test('MT19937 with the standard seeding (std::mt19937 / torch CPU generator)', () => {
  const rng = new MersenneTwister(0);
  // std::mt19937(0)'s first outputs; mod 10 they are torch.randint(0, 10, (5,)) after manual_seed(0): 4, 9, 3, 0, 3.
  const first = Array.from({ length: 5 }, () => rng.next());
  assert.deepEqual(first, [2357136044, 2546248239, 3071714933, 3626093760, 2588848963]);
  assert.deepEqual(first.map((v) => v % 10), [4, 9, 3, 0, 3]);
  // The 10000th output of std::mt19937 seeded with 5489 (the C++ standard's check value).
  const std = new MersenneTwister(5489);
  let v = 0;
  for (let i = 0; i < 10000; i++) v = std.next();
  assert.equal(v, 4123659995);
});

test('seeded keyframes reproduce the spec sequence for seed 1, 40 frames, batch 8 (all 50 steps)', () => {
  // The reference's draw: in-batch offsets per step, batches 0..4.
  const spec = ('53407 13570 01475 46124 65243 42456 24771 17606 51177 56110 41005 37210 67365 11340 13424 '
    + '05312 70417 27721 06137 67543 51360 02277 77173 42660 07711 53005 56456 24353 75034 34647 '
    + '75410 42052 74171 02440 41641 02312 44722 60126 62770 67512 46065 51215 42075 01570 13116 '
    + '54436 50370 31275 54505 05311').split(' ');
  const pivots = drawPivots(1, 40, 8, 50);
  assert.deepEqual(pivots[0], [5, 11, 20, 24, 39]);
  pivots.forEach((row, s) => assert.deepEqual(row.map((p, b) => p - 8 * b).join(''), spec[s], `step ${s}`));
});

test('batches keep every frame; a shorter last batch draws inside itself', () => {
  assert.deepEqual(batchRanges(14, 4), [{ start: 0, size: 4 }, { start: 4, size: 4 }, { start: 8, size: 4 }, { start: 12, size: 2 }]);
  assert.deepEqual(batchRanges(3, 8), [{ start: 0, size: 3 }]);
  const rows = drawPivots(7, 14, 4, 200);
  const seen = new Set<number>();
  for (const row of rows) {
    checkPivots(row, 14, 4);
    seen.add(row[3]!);
  }
  assert.deepEqual([...seen].sort(), [12, 13]);
  // Same seed, same keyframes: a resumed edit sees the same draw.
  assert.deepEqual(drawPivots(7, 14, 4, 200), rows);
});

test('explicit keyframe lists are checked against the batches', () => {
  assert.throws(() => checkPivots([0, 4, 8], 14, 4), /3 keyframe\(s\) given, but 14 frames in batches of 4 make 4 batches/);
  assert.throws(() => checkPivots([0, 4, 8, 14], 14, 4), /pivots\[3\] = 14 is not a frame of batch 3 \(frames 12\.\.13\)/);
  assert.throws(() => checkPivots([1, 3, 8, 12], 14, 4), /pivots\[1\] = 3/);
  assert.throws(() => batchRanges(0, 4), /positive integer/);
});
