// Durable file writes: a file replaced atomically (temp file, fsync, rename, fsync of the
// folder), so after a crash a reader sees the old contents or the new, never a torn mix.
// Used by the job store and runner checkpoints and by the edit checkpoints of the pipeline.
import fs from 'node:fs';
import path from 'node:path';

/** Makes a rename in `dir` durable. Windows cannot open folders; NTFS journals renames. */
export function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a whole file atomically: temp file beside it, fsync, rename, fsync the folder. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    const fd = fs.openSync(tmp, 'w', mode);
    try {
      writeAll(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    // A full disk must not leave the temp file behind (the old file is untouched).
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(file));
}

/** fs.writeSync may write less than asked; loop until every byte is out. */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let offset = 0;
  while (offset < buf.length) offset += fs.writeSync(fd, buf, offset, buf.length - offset);
}
