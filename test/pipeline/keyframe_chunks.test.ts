import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_KEYFRAME_WINDOW, chunkedKeyframeCount, planKeyframeChunks } from '../../companion/pipeline/keyframe_chunks.ts';

test('up to the window: one chunk of all keyframes (the reference)', () => {
  assert.equal(DEFAULT_KEYFRAME_WINDOW, 8);
  for (const k of [1, 5, 8]) assert.deepEqual(planKeyframeChunks(k, 8), [{ first: 0, count: k, recordFrom: 0, recordTo: k }]);
  assert.equal(chunkedKeyframeCount(5), 5);
});

test('beyond the window: windows of W keyframes, each keyframe recorded once, away from window edges', () => {
  for (const window of [1, 2, 3, 4, 5, 8, 12]) {
    for (let k = window + 1; k <= 60; k++) {
      const chunks = planKeyframeChunks(k, window);
      let next = 0;
      for (const c of chunks) {
        assert.equal(c.count, window);
        assert.ok(c.first >= 0 && c.first + c.count <= k);
        assert.equal(c.recordFrom, next, `K=${k} W=${window}: records contiguous`);
        assert.ok(c.recordTo > c.recordFrom && c.recordFrom >= c.first && c.recordTo <= c.first + c.count);
        // Margin of one neighbour on each side inside the window, except at the clip's ends.
        if (window >= 3) {
          if (c.recordFrom > 0) assert.ok(c.recordFrom - c.first >= 1, `K=${k} W=${window} ${JSON.stringify(c)}`);
          if (c.recordTo < k) assert.ok(c.first + c.count - c.recordTo >= 1, `K=${k} W=${window} ${JSON.stringify(c)}`);
        }
        next = c.recordTo;
      }
      assert.equal(next, k);
    }
  }
  assert.deepEqual(planKeyframeChunks(10, 8), [
    { first: 0, count: 8, recordFrom: 0, recordTo: 7 },
    { first: 2, count: 8, recordFrom: 7, recordTo: 10 },
  ]);
  // 400 frames at B = 8: 50 keyframes evaluated as 8 windows of 8 (64 samples, +28 %).
  assert.equal(chunkedKeyframeCount(50, 8), 64);
  assert.throws(() => planKeyframeChunks(4, 0), /keyframe window must be a positive integer/);
});
