// Idempotent submission: a client that retries `POST /v1/jobs` with the same idempotency key
// gets the job it already created, and a key reused for a different request is refused
// (draft-ietf-httpapi-idempotency-key-header: same key, different payload -> 422).
import { createHash } from 'node:crypto';
import { normalizeRange, type JobRequest } from '../../shared/jobs.ts';

/**
 * sha256 of the request's canonical JSON: keys sorted, the range in ticks (so 1 s and
 * 254016000000 ticks are the same request), the key itself left out.
 */
export function requestFingerprint(request: JobRequest): string {
  const { idempotency_key: _key, range, ...rest } = request;
  return createHash('sha256').update(canonicalJson({ ...rest, range: normalizeRange(range) })).digest('hex');
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
