// The one error type of companion/media: a code for programs, a message naming the file and
// the problem for people.
import type { MediaErrorCode } from './types.ts';

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  /** The file the error is about, when there is one. */
  readonly path: string | undefined;

  constructor(code: MediaErrorCode, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
    // An aborted operation is also a standard AbortError, so generic abort handling works.
    this.name = code === 'aborted' ? 'AbortError' : 'MediaError';
  }
}

export function isMediaError(err: unknown, code?: MediaErrorCode): err is MediaError {
  return err instanceof MediaError && (code === undefined || err.code === code);
}

/** The error to reject with when `signal` fired. */
export function abortError(what: string, signal?: AbortSignal): MediaError {
  const reason = signal?.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return new MediaError('aborted', `${what} was aborted${reason}`, { cause: signal?.reason });
}
