import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SilenceWatch } from '../../companion/pipeline_process/silence_watch.ts';

test('silence counts the time the process was listening: ticks on time add up to the limit, a beat starts it over', () => {
  const watch = new SilenceWatch(800, 0);
  assert.equal(watch.tickMs, 100);
  const ticks = (from: number, count: number) => Array.from({ length: count }, (_, i) => watch.tick(from + (i + 1) * 100));
  assert.deepEqual(ticks(0, 7), [false, false, false, false, false, false, false]);
  watch.heard();
  assert.deepEqual(ticks(700, 8), [false, false, false, false, false, false, false, true]);
});

test('a tick delayed by a blocked event loop counts as two ticks at most: long model calls are not silence', () => {
  const watch = new SilenceWatch(800, 0);
  // Ten model calls of 5 s each, the parent's beats read after each: never silent.
  for (let call = 1; call <= 10; call++) {
    assert.equal(watch.tick(call * 5000), false);
    watch.heard();
  }
  // The same calls with the parent silent: 200 ms of silence counted per call, silent at the 4th.
  const silent = Array.from({ length: 4 }, (_, i) => watch.tick(50_000 + (i + 1) * 5000));
  assert.deepEqual(silent, [false, false, false, true]);
});
