// Keyframe ("pivot") selection: one keyframe per batch of frames, drawn afresh every denoising
// step. The draw is seeded and reproducible per step, so a
// resumed edit gets the same keyframes; an explicit list (e.g. the golden one) can replace it.

/** Frames [start, start + size) of one batch. The last batch may be shorter than the others. */
export interface BatchRange {
  start: number;
  size: number;
}

/** Splits n frames into batches of `batchSize`, keeping every frame (a shorter last batch). */
export function batchRanges(n: number, batchSize: number): BatchRange[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`frame count must be a positive integer, got ${n}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  const out: BatchRange[] = [];
  for (let start = 0; start < n; start += batchSize) out.push({ start, size: Math.min(batchSize, n - start) });
  return out;
}

/**
 * The 32-bit Mersenne Twister (MT19937) with the standard seeding, the generator behind
 * torch's CPU `randint`: the reference draws its keyframe offsets as `random() % B`.
 */
export class MersenneTwister {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1]! ^ (this.mt[i - 1]! >>> 30);
      // 1812433253 * prev + i in 32-bit arithmetic (Math.imul keeps the low 32 bits).
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** Next 32-bit output, as an unsigned number. */
  next(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    return (y ^ (y >>> 18)) >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % 624]! & 0x7fffffff);
      mt[i] = mt[(i + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}

/**
 * Keyframes for every step: `pivots[s][b] = start_b + (mt() % size_b)` from one generator
 * seeded once, steps in order, batches in order. For full batches this is the reference's
 * `torch.randint(0, B, (K,)) + arange(K) * B` per step after `seed_everything(seed)` (assuming,
 * as the spec notes, that nothing else drew from the generator first); a shorter last batch
 * draws its offset within its own size.
 */
export function drawPivots(seed: number, n: number, batchSize: number, steps: number): number[][] {
  const rng = new MersenneTwister(seed);
  const batches = batchRanges(n, batchSize);
  return Array.from({ length: steps }, () => batches.map((b) => b.start + (rng.next() % b.size)));
}

/** Checks an explicit keyframe list for one step: one frame inside each batch, in batch order. */
export function checkPivots(pivots: readonly number[], n: number, batchSize: number, what = 'pivots'): void {
  const batches = batchRanges(n, batchSize);
  if (pivots.length !== batches.length) {
    throw new Error(`${what}: ${pivots.length} keyframe(s) given, but ${n} frames in batches of ${batchSize} make ${batches.length} batches`);
  }
  pivots.forEach((p, i) => {
    const b = batches[i]!;
    if (!Number.isInteger(p) || p < b.start || p >= b.start + b.size) {
      throw new Error(`${what}[${i}] = ${p} is not a frame of batch ${i} (frames ${b.start}..${b.start + b.size - 1})`);
    }
  });
}
