// Premiere Pro measures time in ticks: 254016000000 per second (divisible by every common
// frame rate's denominator, so frame boundaries are whole ticks).
export const TICKS_PER_SECOND = 254_016_000_000n;
