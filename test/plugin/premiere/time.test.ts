import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFps, formatTimecode, frameTicks, framesIn, rateFromFps, rateFromTimebase, rateToFps } from '../../../plugin/src/premiere/time.ts';

const TPS = 254016000000n;

test('float frame rates become exact rationals', () => {
  assert.deepEqual(rateFromFps(24000 / 1001), { num: 24000, den: 1001 });
  assert.deepEqual(rateFromFps(29.97002997), { num: 30000, den: 1001 });
  assert.deepEqual(rateFromFps(59.94005994), { num: 60000, den: 1001 });
  assert.deepEqual(rateFromFps(25), { num: 25, den: 1 });
  assert.deepEqual(rateFromFps(12.5), { num: 12500, den: 1000 });
  assert.throws(() => rateFromFps(0), /positive/);
});

test('frames and frame ticks', () => {
  const ntsc = rateFromFps(23.976023976);
  assert.equal(frameTicks(ntsc), 10594584000n);
  assert.equal(framesIn(10594584000n * 48n, ntsc), 48);
  assert.equal(framesIn(TPS * 2n, { num: 25, den: 1 }), 50);
  const seq = rateFromTimebase(8475667200n); // 29.97
  assert.ok(Math.abs(rateToFps(seq) - 29.97002997) < 1e-6);
});

test('timecode on the sequence grid', () => {
  const tpf25 = TPS / 25n;
  assert.equal(formatTimecode(0n, tpf25), '00:00:00:00');
  assert.equal(formatTimecode(tpf25 * (25n * 3661n + 7n), tpf25), '01:01:01:07');
  const tpf2997 = 8475667200n;
  assert.equal(formatTimecode(tpf2997 * 31n, tpf2997), '00:00:01:01');
  assert.equal(formatFps(24000 / 1001), '23.976');
  assert.equal(formatFps(25), '25');
  assert.equal(formatFps(29.97002997), '29.97');
});
