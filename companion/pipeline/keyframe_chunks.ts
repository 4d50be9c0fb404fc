// Long clips: the keyframe pass attends across all K keyframes of a step (extended attention,
// cost ~ K^2 per block), and its records for K keyframes would all sit in RAM. Past a window of
// W keyframes the pass runs in chunks of W consecutive keyframes instead: every keyframe of a
// chunk attends to the chunk's keyframes, and only the keyframes away from the chunk's edges
// are recorded from it (the next chunk overlaps and records the rest). So each keyframe attends
// to a window of W neighbouring keyframes with at least MARGIN on each side (except at the clip
// ends). With K <= W there is one chunk of all keyframes: exactly the reference.

/**
 * Default W. It covers the reference's own setting (40 frames, B = 8 -> K = 5) and clips up to
 * 8 * B frames unchanged. The price of a larger W at 512x512 (64x64 latents, T = 4096 tokens):
 * - the extended attention of the K*T = 32768 tokens: its score matrix would be 4.3 GB per head
 *   and branch if materialised (plain MatMul/Softmax); com.microsoft.MultiHeadAttention on CPU
 *   tiles it: measured peak +168 MB at K = 8 (320 channels, 5 heads), so memory is not the limit;
 * - time, quadratic in the window: one 64x64-level block and branch on 2 CPU cores took
 *   0.16 / 0.59 / 2.4 / 9.6 s at K = 1 / 2 / 4 / 8, so a W = 8 keyframe pass spends ~100 s in
 *   the 5 blocks of that level (x 2 edit branches);
 * - the pass holds 3W samples of activations (at W = 8 the same as a B = 8 propagate pass);
 * - the records of up to W keyframes, 185 MB each on SD 2.1 (46.2 M float32 values: src norm1
 *   output + three branches' attn1 outputs over the 16 blocks), ~1.5 GB at W = 8.
 */
export const DEFAULT_KEYFRAME_WINDOW = 8;

/** Keyframes a chunk keeps clear of its edges when the clip needs several chunks. */
function margin(window: number): number {
  return window >= 3 ? 1 : 0;
}

/** One keyframe-pass call: keyframes [first, first + count) attend to each other; [recordFrom, recordTo) are recorded. */
export interface KeyframeChunk {
  first: number;
  count: number;
  recordFrom: number;
  recordTo: number;
}

/** Chunks covering keyframes 0..K-1, each recorded exactly once, in order. */
export function planKeyframeChunks(keyframes: number, window = DEFAULT_KEYFRAME_WINDOW): KeyframeChunk[] {
  if (!Number.isInteger(keyframes) || keyframes < 1) throw new Error(`keyframe count must be a positive integer, got ${keyframes}`);
  if (!Number.isInteger(window) || window < 1) throw new Error(`keyframe window must be a positive integer, got ${window}`);
  if (keyframes <= window) return [{ first: 0, count: keyframes, recordFrom: 0, recordTo: keyframes }];
  const m = margin(window);
  const chunks: KeyframeChunk[] = [];
  let recordFrom = 0;
  while (recordFrom < keyframes) {
    const first = Math.min(Math.max(recordFrom - m, 0), keyframes - window);
    const recordTo = first + window === keyframes ? keyframes : first + window - m;
    chunks.push({ first, count: window, recordFrom, recordTo });
    recordFrom = recordTo;
  }
  return chunks;
}

/** Keyframe samples the chunks evaluate (K when K <= W, about K * W / (W - 2) beyond). */
export function chunkedKeyframeCount(keyframes: number, window = DEFAULT_KEYFRAME_WINDOW): number {
  return planKeyframeChunks(keyframes, window).reduce((s, c) => s + c.count, 0);
}
