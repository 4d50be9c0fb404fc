// The on-disk latent store of one clip: the clean latents z0 and the DDIM-inverted latents of
// every saved timestep, one raw float32 file each (`z0.f32`, `t0981.f32`, ...), frames back to
// back as [n, c, h, w], plus `store.json` describing them. Preprocessing writes a frame chunk at
// a time into every timestep's file; the edit reads one timestep (or one batch of frames) at a
// time. So memory never holds more than one timestep of latents, whatever the clip length.
// Files are little-endian float32, the byte order of every platform Node runs on.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface LatentStoreLayout {
  frames: number;
  channels: number;
  /** Latent height and width. */
  height: number;
  width: number;
  /** Saved timesteps, noisiest first. */
  timesteps: number[];
}

interface StoreFile extends LatentStoreLayout {
  version: 1;
}

const META = 'store.json';
const VERSION = 1;

if (os.endianness() !== 'LE') throw new Error('the latent store assumes a little-endian machine');

function fileOf(dir: string, t: number | 'z0'): string {
  return path.join(dir, t === 'z0' ? 'z0.f32' : `t${String(t).padStart(4, '0')}.f32`);
}

function frameValues(layout: LatentStoreLayout): number {
  return layout.channels * layout.height * layout.width;
}

/** Writes a store: every file is created at its full size up front, then filled by chunks. */
export class LatentStoreWriter {
  private readonly fds = new Map<number | 'z0', number>();
  private closed = false;

  private constructor(readonly dir: string, readonly layout: LatentStoreLayout) {}

  /** Creates the files in `dir` (created if missing; existing store files are replaced). */
  static create(dir: string, layout: LatentStoreLayout): LatentStoreWriter {
    checkLayout(layout, dir);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.rmSync(path.join(dir, META), { force: true });
    const writer = new LatentStoreWriter(dir, layout);
    const bytes = layout.frames * frameValues(layout) * 4;
    try {
      for (const key of ['z0', ...layout.timesteps] as const) {
        const fd = fs.openSync(fileOf(dir, key), 'w+', 0o600);
        writer.fds.set(key, fd);
        fs.ftruncateSync(fd, bytes);
      }
    } catch (err) {
      writer.abandon();
      throw err;
    }
    return writer;
  }

  /** Bytes the finished store takes on disk. */
  static sizeOf(layout: LatentStoreLayout): number {
    return (layout.timesteps.length + 1) * layout.frames * frameValues(layout) * 4;
  }

  writeZ0(firstFrame: number, latents: Float32Array): void {
    this.write('z0', firstFrame, latents);
  }

  writeTimestep(t: number, firstFrame: number, latents: Float32Array): void {
    if (!this.layout.timesteps.includes(t)) throw new Error(`latent store ${this.dir}: timestep ${t} is not one of the saved ${this.layout.timesteps.join(', ')}`);
    this.write(t, firstFrame, latents);
  }

  /** Reads back z0 of frames [first, first + count), e.g. for the inversion that follows the encode. */
  readZ0(first: number, count: number): Float32Array {
    return readRange(this.fds.get('z0')!, this.layout, fileOf(this.dir, 'z0'), first, count);
  }

  /** Flushes every file to disk and writes store.json last: only then is the store readable. */
  finish(): LatentStore {
    this.assertOpen();
    for (const fd of this.fds.values()) fs.fsyncSync(fd);
    this.closeAll();
    const meta: StoreFile = { version: VERSION, ...this.layout };
    const tmp = path.join(this.dir, `${META}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(meta), { mode: 0o600 });
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, path.join(this.dir, META));
    return LatentStore.open(this.dir);
  }

  /** Closes the files without making the store readable (after a failure or an abort). */
  abandon(): void {
    this.closeAll();
  }

  private write(key: number | 'z0', firstFrame: number, latents: Float32Array): void {
    this.assertOpen();
    const per = frameValues(this.layout);
    const count = latents.length / per;
    if (!Number.isInteger(count) || firstFrame < 0 || firstFrame + count > this.layout.frames) {
      throw new Error(`latent store ${this.dir}: ${latents.length} values at frame ${firstFrame} do not fit ${this.layout.frames} frames of ${per} values`);
    }
    const bytes = new Uint8Array(latents.buffer, latents.byteOffset, latents.byteLength);
    let done = 0;
    const position = firstFrame * per * 4;
    while (done < bytes.byteLength) done += fs.writeSync(this.fds.get(key)!, bytes, done, bytes.byteLength - done, position + done);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`latent store ${this.dir} is already closed`);
  }

  private closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

/** A finished store, read a timestep (or a frame range of one) at a time. */
export class LatentStore {
  private constructor(readonly dir: string, readonly layout: LatentStoreLayout) {}

  /** Opens a finished store; fails naming the file when one is missing or has the wrong size. */
  static open(dir: string): LatentStore {
    let meta: StoreFile;
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, META), 'utf8')) as StoreFile;
    } catch (err) {
      throw new Error(`latent store ${dir}: no readable ${META} (an unfinished store?): ${(err as Error).message}`);
    }
    if (meta.version !== VERSION) throw new Error(`latent store ${dir}: version ${meta.version}, expected ${VERSION}`);
    const layout: LatentStoreLayout = { frames: meta.frames, channels: meta.channels, height: meta.height, width: meta.width, timesteps: meta.timesteps };
    checkLayout(layout, dir);
    const bytes = layout.frames * frameValues(layout) * 4;
    for (const key of ['z0', ...layout.timesteps] as const) {
      const file = fileOf(dir, key);
      let size: number;
      try {
        size = fs.statSync(file).size;
      } catch {
        throw new Error(`latent store ${dir}: ${path.basename(file)} is missing`);
      }
      if (size !== bytes) throw new Error(`latent store ${dir}: ${path.basename(file)} has ${size} bytes, expected ${bytes}`);
    }
    return new LatentStore(dir, layout);
  }

  has(t: number): boolean {
    return this.layout.timesteps.includes(t);
  }

  /** z0 of frames [first, first + count) (default: all). */
  readZ0(first = 0, count = this.layout.frames - first): Float32Array {
    return this.readFile('z0', first, count);
  }

  /** The inverted latents at timestep t of frames [first, first + count) (default: all). */
  read(t: number, first = 0, count = this.layout.frames - first): Float32Array {
    if (!this.has(t)) throw new Error(`latent store ${this.dir}: no latents for timestep ${t} (saved: ${this.layout.timesteps.join(', ')})`);
    return this.readFile(t, first, count);
  }

  /** Bytes of all its files. */
  get bytes(): number {
    return LatentStoreWriter.sizeOf(this.layout);
  }

  private readFile(key: number | 'z0', first: number, count: number): Float32Array {
    const file = fileOf(this.dir, key);
    const fd = fs.openSync(file, 'r');
    try {
      return readRange(fd, this.layout, file, first, count);
    } finally {
      fs.closeSync(fd);
    }
  }
}

function readRange(fd: number, layout: LatentStoreLayout, file: string, first: number, count: number): Float32Array {
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 0 || first + count > layout.frames) {
    throw new Error(`${file}: frames ${first}..${first + count - 1} are outside 0..${layout.frames - 1}`);
  }
  const per = frameValues(layout);
  const out = new Float32Array(count * per);
  const bytes = new Uint8Array(out.buffer);
  let done = 0;
  while (done < bytes.byteLength) {
    const n = fs.readSync(fd, bytes, done, bytes.byteLength - done, first * per * 4 + done);
    if (n === 0) throw new Error(`${file}: ended early (truncated?)`);
    done += n;
  }
  return out;
}

function checkLayout(layout: LatentStoreLayout, dir: string): void {
  const { frames, channels, height, width, timesteps } = layout;
  const ok = [frames, channels, height, width].every((v) => Number.isInteger(v) && v > 0)
    && Array.isArray(timesteps) && timesteps.every((t) => Number.isInteger(t) && t >= 0);
  if (!ok) throw new Error(`latent store ${dir}: invalid layout ${JSON.stringify(layout)}`);
}
