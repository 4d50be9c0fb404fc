// Frame and timecode maths for what Premiere reports: sequence time bases (ticks per frame,
// exact) and media frame rates (a float from the footage interpretation).
import { TICKS_PER_SECOND, divRound, type TicksRate } from '../../../shared/ticks.ts';

/** NTSC families: 24, 30, 60... × 1000/1001. */
const NTSC_BASES = [24, 30, 48, 60, 120, 240];

/**
 * A float frame rate as an exact rational. Premiere reports 29.97 as 29.97002997...; the
 * NTSC rates are matched to n×1000/1001, whole rates to n/1, anything else kept to 1/1000 fps.
 */
export function rateFromFps(fps: number): TicksRate {
  if (!Number.isFinite(fps) || fps <= 0) throw new RangeError(`frame rate must be a positive number, got ${fps}`);
  for (const base of NTSC_BASES) {
    if (Math.abs(fps - (base * 1000) / 1001) < 5e-4) return { num: base * 1000, den: 1001 };
  }
  if (Math.abs(fps - Math.round(fps)) < 5e-4) return { num: Math.round(fps), den: 1 };
  return { num: Math.round(fps * 1000), den: 1000 };
}

/** A sequence's rate from its time base (ticks per frame, as `Sequence.getTimebase()` gives it). */
export function rateFromTimebase(ticksPerFrame: bigint): TicksRate {
  if (ticksPerFrame <= 0n) throw new RangeError(`time base must be positive, got ${ticksPerFrame}`);
  return { num: TICKS_PER_SECOND, den: ticksPerFrame };
}

/** Frames per second as a number, for display. */
export function rateToFps(rate: TicksRate): number {
  return Number(rate.num) / Number(rate.den);
}

/** Whole frames in a duration at `rate` (nearest: Premiere's in/out sit on frame boundaries). */
export function framesIn(durationTicks: bigint, rate: TicksRate): number {
  return Number(divRound(durationTicks * BigInt(rate.num), BigInt(rate.den) * TICKS_PER_SECOND, 'round'));
}

/** Ticks of one frame at `rate` (rounded; exact for every common rate). */
export function frameTicks(rate: TicksRate): bigint {
  return divRound(TICKS_PER_SECOND * BigInt(rate.den), BigInt(rate.num), 'round');
}

/**
 * Non-drop-frame timecode HH:MM:SS:FF of a time on a sequence's frame grid, counting frames
 * at the nominal (rounded) rate, as Premiere's NDF display does.
 */
export function formatTimecode(ticks: bigint, sequenceTicksPerFrame: bigint): string {
  const frame = ticks / sequenceTicksPerFrame;
  const nominal = BigInt(Math.max(1, Math.round(Number(TICKS_PER_SECOND) / Number(sequenceTicksPerFrame))));
  const ff = frame % nominal;
  const totalSeconds = frame / nominal;
  const ss = totalSeconds % 60n;
  const mm = (totalSeconds / 60n) % 60n;
  const hh = totalSeconds / 3600n;
  return [hh, mm, ss, ff].map((n) => n.toString().padStart(2, '0')).join(':');
}

/** "23.976", "25", "29.97": a frame rate as editors write it. */
export function formatFps(fps: number): string {
  return fps.toFixed(3).replace(/\.?0+$/, '');
}
