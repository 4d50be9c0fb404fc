// Errors the job service throws to its callers (the HTTP server maps `status` onto the reply).
export type JobServiceErrorCode =
  | 'bad_request' // e.g. an unknown preset name (field: 'preset')
  | 'not_found' // no such job / preset
  | 'conflict' // e.g. deleting an active job, replacing a built-in preset
  | 'idempotency_conflict' // same idempotency key, different body
  | 'media_invalid' // the source is not a readable video, or the range is outside it
  | 'disk_full'; // the job log or presets file could not be written: no space left

const STATUS: Record<JobServiceErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  conflict: 409,
  idempotency_conflict: 422,
  media_invalid: 422,
  disk_full: 507,
};

export class JobServiceError extends Error {
  readonly code: JobServiceErrorCode;
  /** The HTTP status this error maps to. */
  readonly status: number;
  /** Dotted request field the error is about, e.g. 'source_path'. */
  readonly field: string | undefined;

  constructor(code: JobServiceErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'JobServiceError';
    this.code = code;
    this.status = STATUS[code];
    this.field = options.field;
  }
}

/** A failed write into the data folder `folder`, as what the caller answers: 507 disk_full when the disk is full, else the error itself. */
export function storageError(err: unknown, folder: string, what: string): unknown {
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new JobServiceError('disk_full', `the data folder ${folder} is full (${errno}): ${what}; free some space and try again`, { cause: err });
  }
  return err;
}
