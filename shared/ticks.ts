// Premiere Pro measures time in ticks: 254016000000 per second (divisible by every common
// frame rate's denominator, so frame boundaries are whole ticks).
//
// Everything here is exact: BigInt arithmetic on integers and rationals, with the rounding
// named at each call. Seconds as a float appear only in ticksToSeconds, for display.
export const TICKS_PER_SECOND = 254_016_000_000n;

/** A frame rate (or any positive rational) as integers: num/den frames per second. */
export interface TicksRate {
  num: number | bigint;
  den: number | bigint;
}

export type Rounding = 'floor' | 'ceil' | 'round';

/**
 * a / b rounded as asked ('round' = half up, i.e. towards +infinity on a tie), for any signs
 * with b != 0. BigInt division truncates towards zero, which is none of these for negatives.
 */
export function divRound(a: bigint, b: bigint, rounding: Rounding): bigint {
  if (b === 0n) throw new RangeError('division by zero');
  if (b < 0n) {
    a = -a;
    b = -b;
  }
  if (rounding === 'round') return floorDiv(2n * a + b, 2n * b);
  if (rounding === 'floor') return floorDiv(a, b);
  return -floorDiv(-a, b);
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/**
 * Reads a tick count: a bigint, or a decimal string of digits (what the protocol carries).
 * Negative values, signs, spaces, fractions and exponents are refused.
 */
export function parseTicks(value: bigint | string, what = 'ticks'): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n) throw new RangeError(`${what} must not be negative, got ${value}`);
    return value;
  }
  if (!/^\d{1,30}$/.test(value)) {
    throw new RangeError(`${what} must be a whole number of ticks as a decimal string, got ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

/** Seconds as a JS number (approximate; for display and logs only). */
export function ticksToSeconds(ticks: bigint): number {
  const whole = ticks / TICKS_PER_SECOND;
  const rest = ticks % TICKS_PER_SECOND;
  return Number(whole) + Number(rest) / Number(TICKS_PER_SECOND);
}

/**
 * Ticks for a time in seconds, exact for the decimal that is written: '1.1' (or the number
 * 1.1, read as its shortest decimal form) is exactly 279417600000 ticks. Finer than one tick
 * rounds half up. Negative, non-finite or malformed values are refused.
 */
export function ticksFromSeconds(seconds: number | string): bigint {
  if (typeof seconds === 'number' && !Number.isFinite(seconds)) {
    throw new RangeError(`seconds must be finite, got ${seconds}`);
  }
  const text = String(seconds).trim();
  const m = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$|^\.(\d+)(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) throw new RangeError(`seconds must be a non-negative decimal number, got ${JSON.stringify(seconds)}`);
  const intPart = m[1] ?? '0';
  const fraction = m[2] ?? m[4] ?? '';
  const exponent = Number(m[3] ?? m[5] ?? 0) - fraction.length;
  const digits = BigInt(intPart + fraction) * TICKS_PER_SECOND;
  if (exponent >= 0) return digits * 10n ** BigInt(exponent);
  return divRound(digits, 10n ** BigInt(-exponent), 'round');
}

function rateParts(rate: TicksRate): { num: bigint; den: bigint } {
  const num = BigInt(rate.num);
  const den = BigInt(rate.den);
  if (num <= 0n || den <= 0n) throw new RangeError(`frame rate must be positive, got ${rate.num}/${rate.den}`);
  return { num, den };
}

/** Ticks per frame at `rate`, rounded as asked (exact when isWholeTicksPerFrame(rate)). */
export function ticksPerFrame(rate: TicksRate, rounding: Rounding = 'round'): bigint {
  const { num, den } = rateParts(rate);
  return divRound(TICKS_PER_SECOND * den, num, rounding);
}

/** True when one frame at `rate` is a whole number of ticks (all common rates: 23.976, 29.97, 59.94, 25...). */
export function isWholeTicksPerFrame(rate: TicksRate): boolean {
  const { num, den } = rateParts(rate);
  return (TICKS_PER_SECOND * den) % num === 0n;
}

/**
 * The frame index at `ticks` on a constant-rate grid: index = ticks * num / (den * TICKS_PER_SECOND),
 * rounded as asked. 'floor' gives the frame being shown at that time.
 */
export function ticksToFrameIndex(ticks: bigint, rate: TicksRate, rounding: Rounding = 'floor'): number {
  const { num, den } = rateParts(rate);
  return Number(divRound(ticks * num, den * TICKS_PER_SECOND, rounding));
}

/** The start time of frame `index` on a constant-rate grid, in ticks (rounded as asked if not whole). */
export function frameIndexToTicks(index: number | bigint, rate: TicksRate, rounding: Rounding = 'round'): bigint {
  const { num, den } = rateParts(rate);
  return divRound(BigInt(index) * den * TICKS_PER_SECOND, num, rounding);
}

/** Number of whole constant-rate frames that start in [start, end): the frame count of a range on the grid. */
export function frameCountInRange(start: bigint, end: bigint, rate: TicksRate): number {
  if (end <= start) return 0;
  return ticksToFrameIndex(end, rate, 'ceil') - ticksToFrameIndex(start, rate, 'ceil');
}

/**
 * Converts ticks to a count of `timeBase` units (timeBase = num/den seconds per unit), rounded as
 * asked: pts = ticks * den / (num * TICKS_PER_SECOND).
 */
export function ticksToTimeBase(ticks: bigint, timeBase: TicksRate, rounding: Rounding = 'round'): bigint {
  const { num, den } = rateParts(timeBase);
  return divRound(ticks * den, num * TICKS_PER_SECOND, rounding);
}

/** Converts a count of `timeBase` units to ticks, rounded as asked. */
export function timeBaseToTicks(units: bigint | number, timeBase: TicksRate, rounding: Rounding = 'round'): bigint {
  const { num, den } = rateParts(timeBase);
  return divRound(BigInt(units) * num * TICKS_PER_SECOND, den, rounding);
}
