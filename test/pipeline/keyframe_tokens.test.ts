import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyframeTokens } from '../../companion/pipeline/keyframe_tokens.ts';

test('records are per-keyframe views of the pass outputs; dropped keyframes are forgotten', () => {
  const tokens = new KeyframeTokens(['a', 'b']);
  // Block a: T = 2, D = 3; block b: T = 1, D = 2; two keyframes recorded from one pass.
  const a = { dimsP: [2, 2, 3], dataP: Float32Array.from({ length: 12 }, (_, i) => i), dimsA: [2, 3, 2, 3], dataA: Float32Array.from({ length: 36 }, (_, i) => 100 + i) };
  const b = { dimsP: [2, 1, 2], dataP: Float32Array.from({ length: 4 }, (_, i) => i), dimsA: [2, 3, 1, 2], dataA: Float32Array.from({ length: 12 }, (_, i) => 200 + i) };
  tokens.putFromPass(5, [a, b]);
  assert.deepEqual(tokens.keyframes, [5, 6]);
  const k6 = tokens.get(6);
  assert.deepEqual([...k6[0]!.pSrc], [6, 7, 8, 9, 10, 11]);
  assert.deepEqual([...k6[0]!.attn], Array.from({ length: 18 }, (_, i) => 118 + i));
  assert.equal(k6[0]!.pSrc.buffer, a.dataP.buffer); // a view, not a copy
  assert.deepEqual([k6[1]!.tokens, k6[1]!.channels], [1, 2]);
  assert.equal(tokens.bytes, 4 * (12 + 36 + 4 + 12));
  tokens.dropBefore(6);
  assert.deepEqual(tokens.keyframes, [6]);
  // A later pass: keyframe 6 keeps its values in its own copy, freeing the first pass's buffers.
  tokens.putFromPass(7, [{ ...a, dimsP: [1, 2, 3], dataP: a.dataP.slice(0, 6), dimsA: [1, 3, 2, 3], dataA: a.dataA.slice(0, 18) }, { ...b, dimsP: [1, 1, 2], dataP: b.dataP.slice(0, 2), dimsA: [1, 3, 1, 2], dataA: b.dataA.slice(0, 6) }]);
  assert.deepEqual(tokens.keyframes, [6, 7]);
  assert.notEqual(tokens.get(6)[0]!.pSrc.buffer, a.dataP.buffer);
  assert.deepEqual([...tokens.get(6)[0]!.pSrc], [6, 7, 8, 9, 10, 11]);
  assert.equal(tokens.bytes, 2 * 4 * (6 + 18 + 2 + 6));
  assert.throws(() => tokens.get(5), /keyframe 5 has no records \(held: 6, 7\)/);
  assert.throws(() => tokens.putFromPass(0, [a]), /1 block outputs for 2 blocks/);
  assert.throws(() => tokens.putFromPass(0, [a, { ...b, dimsA: [2, 3, 2, 2] }]), /keyframe records of b/);
});
