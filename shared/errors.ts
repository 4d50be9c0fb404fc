// The JSON error body of every refused REST request, and the error codes the daemon uses.
import { z } from 'zod';

/**
 * Codes the daemon emits, in REST error bodies, job errors and `error` events. Clients must
 * tolerate codes not in this list (a newer daemon may add some), so the schemas accept any
 * snake_case code; this list documents the known ones.
 */
export const ERROR_CODES = [
  'bad_request', // malformed JSON or a field failed validation (`field` names it)
  'unauthorized', // missing or wrong bearer token
  'forbidden', // Host or Origin refused
  'pairing_refused', // wrong pairing code, or too many wrong codes (HTTP 403)
  'pairing_expired', // the pairing code's time ran out (HTTP 410)
  'too_many_requests', // pairing started too often (HTTP 429)
  'not_found', // unknown job, preset, model or route
  'conflict', // e.g. deleting a job that is still active, overwriting a built-in preset
  'idempotency_conflict', // same idempotency key, different request body (HTTP 422)
  'payload_too_large',
  'request_timeout', // the request's headers or body did not arrive in time (HTTP 408)
  'unsupported_media_type', // a request body that is not JSON (HTTP 415)
  'media_invalid', // the source is missing, not a video, corrupt, or the range is outside it
  'disk_full', // no space left on the output, work or data folder (HTTP 507 when a request cannot be recorded)
  'model_not_found',
  'hub_failed', // a model download failed at the hub or on the network (model jobs, HTTP 502)
  'pipeline_failed',
  'encode_failed', // ffmpeg lacks an encoder or the encode failed
  'ffmpeg_unavailable', // ffmpeg/ffprobe cannot be found or run
  'ffmpeg_failed', // any other ffmpeg/ffprobe failure
  'canceled',
  'interrupted', // the daemon stopped while the job ran, too many times to resume
  'internal',
] as const;
export type KnownErrorCode = (typeof ERROR_CODES)[number];

/**
 * Codes a daemon client (shared/daemon_client.ts) gives a request the daemon did not answer in
 * its API; the daemon never sends these.
 */
export const CLIENT_ERROR_CODES = [
  'daemon_unreachable', // nothing answered at the address, or not in time (status 0)
  'protocol_mismatch', // an answer that is not this API: not JSON, an error without the error body, a body the schema refuses
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export const ErrorCode = z.string().regex(/^[a-z][a-z0-9_]*$/, { error: 'error code must be snake_case' });

/** `{error: {code, message, field?}}`: the body of every 4xx/5xx answer. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: ErrorCode,
    message: z.string(),
    /** Dotted path of the offending request field, e.g. `parameters.steps`. */
    field: z.string().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** A failed job's error: a code from ERROR_CODES and a sentence for the user. */
export const JobError = z.strictObject({ code: ErrorCode, message: z.string() });
export type JobError = z.infer<typeof JobError>;
