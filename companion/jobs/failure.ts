// Turns whatever a job run threw into the job's {code, message} for the user.
import type { JobError } from '../../shared/errors.ts';
import { MediaError } from '../media/errors.ts';
import type { MediaErrorCode } from '../media/types.ts';
import { PipelineError } from '../pipeline/interface.ts';

const MEDIA_CODES: Record<MediaErrorCode, string> = {
  not_found: 'media_invalid',
  not_a_file: 'media_invalid',
  permission: 'media_invalid',
  not_video: 'media_invalid',
  corrupt: 'media_invalid',
  range: 'media_invalid',
  invalid_argument: 'internal',
  encoder: 'encode_failed',
  disk_full: 'disk_full',
  binary: 'ffmpeg_unavailable',
  aborted: 'canceled',
  ffmpeg: 'ffmpeg_failed',
};

export function classifyFailure(err: unknown): JobError {
  if (err instanceof MediaError) return { code: MEDIA_CODES[err.code], message: err.message };
  if (err instanceof PipelineError) return { code: err.code, message: err.message };
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return { code: 'disk_full', message: `no space left on the disk: ${message}` };
  return { code: 'internal', message };
}
