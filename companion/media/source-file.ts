// Checks a media path before ffmpeg sees it, so that the common problems get precise errors
// (ffmpeg would say "No such file or directory" or "Invalid data" for all of them).
import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MediaError } from './errors.ts';

export interface SourceFile {
  /** Absolute path. */
  path: string;
  sizeBytes: number;
}

export async function checkSourceFile(path: string): Promise<SourceFile> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new MediaError('invalid_argument', 'no media path was given');
  }
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch (err) {
    throw fsError(err, absolute);
  }
  if (info.isDirectory()) {
    throw new MediaError('not_a_file', `"${absolute}" is a directory, not a video file`, { path: absolute });
  }
  if (!info.isFile()) {
    throw new MediaError('not_a_file', `"${absolute}" is not a regular file (device, socket or pipe)`, { path: absolute });
  }
  try {
    const handle = await open(absolute, constants.O_RDONLY);
    await handle.close();
  } catch (err) {
    throw fsError(err, absolute);
  }
  if (info.size === 0) {
    throw new MediaError('corrupt', `"${absolute}" is empty (0 bytes)`, { path: absolute });
  }
  return { path: absolute, sizeBytes: info.size };
}

function fsError(err: unknown, path: string): MediaError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new MediaError('not_found', `"${path}" does not exist`, { path, cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new MediaError('permission', `"${path}" cannot be read: permission denied`, { path, cause: err });
  }
  if (code === 'EISDIR') {
    return new MediaError('not_a_file', `"${path}" is a directory, not a video file`, { path, cause: err });
  }
  const why = err instanceof Error ? err.message : String(err);
  return new MediaError('not_found', `"${path}" cannot be opened: ${why}`, { path, cause: err });
}

/**
 * True if writing `output` would replace the source media `source`, whatever the spelling of
 * either path: the same file after resolving symlinks and `..`, or another name (a hard link)
 * of the same file (same device and inode). False if either does not exist.
 */
export async function isSameFile(output: string, source: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(resolve(output)).catch(() => null), stat(resolve(source)).catch(() => null)]);
  if (!a || !b) return false;
  if (a.dev === b.dev && a.ino === b.ino) return true;
  const [ra, rb] = await Promise.all([realpath(resolve(output)).catch(() => null), realpath(resolve(source)).catch(() => null)]);
  return ra !== null && ra === rb;
}
