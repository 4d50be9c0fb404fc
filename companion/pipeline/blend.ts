// TokenFlow's blend weights (the reference's tokenflow_utils.py:375-385):
// frame j of a batch takes w(j) of the tokens propagated from its own batch's keyframe and
// 1 - w(j) of the previous batch's, w(j) = sigmoid(d_prev / (d_cur + d_prev)), d_cur = the
// distance from the frame to its batch's centre, d_prev = to the previous batch's centre.

/**
 * w(j) for the frames of a batch of `size` frames following a full batch of `batchSize`
 * (size < batchSize only for the last batch of a clip whose length is not a multiple).
 * Rule for a shorter batch: both distances are measured to the batches' actual centres,
 * d_cur = |j - floor(size/2)|, d_prev = j + batchSize - floor(batchSize/2); for a full batch
 * this is the reference's formula (d_prev = j - c + B), and w stays in [0.622, 0.731].
 * float32, as the reference computes it.
 */
export function blendWeights(batchSize: number, size = batchSize): Float32Array {
  if (!Number.isInteger(size) || size < 1 || size > batchSize) throw new Error(`blend weights: batch of ${size} frames with batch size ${batchSize}`);
  const cur = Math.floor(size / 2);
  const prevCentre = batchSize - Math.floor(batchSize / 2); // frame 0's distance to the previous centre
  return Float32Array.from({ length: size }, (_, j) => {
    const dCur = Math.abs(j - cur);
    const dPrev = j + prevCentre;
    const ratio = Math.fround(dPrev / (dCur + dPrev));
    return 1 / (1 + Math.exp(-ratio));
  });
}

/** The first batch has no previous keyframe: all weight on its own. */
export function firstBatchWeights(size: number): Float32Array {
  return new Float32Array(size).fill(1);
}
