// Comparison helpers for parity tests against the golden tensors.
import assert from 'node:assert/strict';

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

/** Asserts max |got - want| <= tol and returns the measured error for reporting. */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): number {
  const err = maxAbsDiff(got, want);
  assert.ok(err <= tol, `${what}: max abs error ${err} exceeds ${tol}`);
  return err;
}
