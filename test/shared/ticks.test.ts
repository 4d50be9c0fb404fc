import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TICKS_PER_SECOND,
  divRound,
  frameCountInRange,
  frameIndexToTicks,
  isWholeTicksPerFrame,
  parseTicks,
  ticksFromSeconds,
  ticksPerFrame,
  ticksToFrameIndex,
  ticksToSeconds,
  ticksToTimeBase,
  timeBaseToTicks,
} from '../../shared/ticks.ts';

const NTSC = { num: 30000, den: 1001 };
const FILM = { num: 24000, den: 1001 };

test('the Premiere constant', () => {
  assert.equal(TICKS_PER_SECOND, 254016000000n);
});

test('divRound rounds floor / ceil / half up for every sign', () => {
  assert.equal(divRound(7n, 2n, 'floor'), 3n);
  assert.equal(divRound(7n, 2n, 'ceil'), 4n);
  assert.equal(divRound(7n, 2n, 'round'), 4n);
  assert.equal(divRound(-7n, 2n, 'floor'), -4n);
  assert.equal(divRound(-7n, 2n, 'ceil'), -3n);
  assert.equal(divRound(-7n, 2n, 'round'), -3n); // -3.5 rounds half up to -3
  assert.equal(divRound(7n, -2n, 'floor'), -4n);
  assert.equal(divRound(6n, 3n, 'ceil'), 2n);
  assert.equal(divRound(5n, 3n, 'round'), 2n);
  assert.equal(divRound(4n, 3n, 'round'), 1n);
  assert.throws(() => divRound(1n, 0n, 'floor'), RangeError);
});

test('parseTicks accepts digits only', () => {
  assert.equal(parseTicks('254016000000'), 254016000000n);
  assert.equal(parseTicks('0'), 0n);
  assert.equal(parseTicks(5n), 5n);
  for (const bad of ['-1', '1.5', '1e9', ' 1', '', '0x10', '+3']) {
    assert.throws(() => parseTicks(bad, 'start_ticks'), /start_ticks must be a whole number/);
  }
  assert.throws(() => parseTicks(-1n), /must not be negative/);
});

test('common frame rates are whole ticks per frame', () => {
  assert.equal(ticksPerFrame(NTSC), 8475667200n);
  assert.equal(ticksPerFrame(FILM), 10594584000n);
  assert.equal(ticksPerFrame({ num: 25, den: 1 }), 10160640000n);
  for (const r of [NTSC, FILM, { num: 60000, den: 1001 }, { num: 24, den: 1 }, { num: 50, den: 1 }, { num: 120, den: 1 }]) {
    assert.ok(isWholeTicksPerFrame(r), `${r.num}/${r.den}`);
  }
  assert.equal(isWholeTicksPerFrame({ num: 11, den: 1 }), false);
  assert.equal(ticksPerFrame({ num: 11, den: 1 }, 'floor'), 23092363636n);
  assert.equal(ticksPerFrame({ num: 11, den: 1 }, 'ceil'), 23092363637n);
  assert.equal(ticksPerFrame({ num: 11, den: 1 }), 23092363636n);
});

test('ticks <-> frame index at 29.97 and 23.976 stays exact over a long clip', () => {
  // Frame 107892 of a 29.97 clip (one hour in) starts at exactly 107892 * 8475667200 ticks.
  const t = frameIndexToTicks(107892, NTSC);
  assert.equal(t, 107892n * 8475667200n);
  assert.equal(ticksToFrameIndex(t, NTSC), 107892);
  assert.equal(ticksToFrameIndex(t - 1n, NTSC), 107891);
  assert.equal(ticksToFrameIndex(t - 1n, NTSC, 'ceil'), 107892);
  assert.equal(ticksToFrameIndex(frameIndexToTicks(86313, FILM), FILM), 86313);
  // A float computation of the same index drifts: show the exact path is needed.
  const seconds = ticksToSeconds(t);
  assert.ok(Math.abs(seconds - 3599.9964) < 1e-9);
});

test('frameCountInRange counts frames starting in [start, end)', () => {
  const tpf = ticksPerFrame(NTSC);
  assert.equal(frameCountInRange(0n, 10n * tpf, NTSC), 10);
  assert.equal(frameCountInRange(3n * tpf, 7n * tpf, NTSC), 4);
  assert.equal(frameCountInRange(3n * tpf + 1n, 7n * tpf, NTSC), 3);
  assert.equal(frameCountInRange(3n * tpf, 7n * tpf + 1n, NTSC), 5);
  assert.equal(frameCountInRange(5n, 5n, NTSC), 0);
  assert.equal(frameCountInRange(9n, 5n, NTSC), 0);
});

test('ticksFromSeconds is exact for the decimal written', () => {
  assert.equal(ticksFromSeconds(1.1), 279417600000n);
  assert.equal(ticksFromSeconds('1.1'), 279417600000n);
  assert.equal(ticksFromSeconds('0.5'), 127008000000n);
  assert.equal(ticksFromSeconds(2), 508032000000n);
  assert.equal(ticksFromSeconds('.25'), 63504000000n);
  assert.equal(ticksFromSeconds('1e-3'), 254016000n);
  assert.equal(ticksFromSeconds(1e21), 254016000000n * 10n ** 21n);
  // Finer than one tick (3.9e-12 s): rounds half up.
  assert.equal(ticksFromSeconds('0.000000000002'), 1n);
  assert.equal(ticksFromSeconds('0.000000000001'), 0n);
  for (const bad of [-1, Number.NaN, Infinity, '1,5', 'abc', '-0.5', '']) {
    assert.throws(() => ticksFromSeconds(bad as number | string), RangeError);
  }
});

test('ticks <-> time base units', () => {
  // 1/30000 time base: one unit is 8467200 ticks.
  assert.equal(ticksToTimeBase(8475667200n, { num: 1, den: 30000 }), 1001n);
  assert.equal(timeBaseToTicks(1001n, { num: 1, den: 30000 }), 8475667200n);
  // Millisecond time base (Matroska): frame 1 of 29.97 (33.366.. ms) is stored as 33.
  assert.equal(ticksToTimeBase(8475667200n, { num: 1, den: 1000 }), 33n);
  assert.equal(ticksToTimeBase(8475667200n, { num: 1, den: 1000 }, 'ceil'), 34n);
  assert.equal(timeBaseToTicks(33, { num: 1, den: 1000 }), 8382528000n);
});

test('rates must be positive', () => {
  assert.throws(() => ticksPerFrame({ num: 0, den: 1 }), /frame rate must be positive/);
  assert.throws(() => ticksToFrameIndex(1n, { num: 30, den: 0 }), /frame rate must be positive/);
});
