// Writes rgb24 frames one by one into a raw frame file (the RawFrames layout), so a producer
// (the pipeline's decoder) never holds the whole clip in memory before encodeVideo.
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { MediaError } from './errors.ts';
import type { RawFrames } from './types.ts';

export class FrameWriter {
  private count = 0;
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly width: number,
    readonly height: number,
  ) {}

  /** Creates (or truncates) `path` for frames of width x height. */
  static async create(path: string, width: number, height: number): Promise<FrameWriter> {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
      throw new MediaError('invalid_argument', `frame size must be positive integers, got ${width}x${height}`, { path });
    }
    return new FrameWriter(await open(path, 'w', 0o600), path, width, height);
  }

  /** Appends one frame: exactly width * height * 3 bytes of rgb24. */
  async write(frame: Uint8Array): Promise<void> {
    if (this.closed) throw new MediaError('invalid_argument', `frame file "${this.path}" is already closed`, { path: this.path });
    const expected = this.width * this.height * 3;
    if (frame.byteLength !== expected) {
      throw new MediaError('invalid_argument', `frame ${this.count} for "${this.path}" has ${frame.byteLength} bytes, expected ${expected} (${this.width}x${this.height} rgb24)`, {
        path: this.path,
      });
    }
    let offset = 0;
    while (offset < expected) {
      const { bytesWritten } = await this.handle.write(frame, offset, expected - offset);
      offset += bytesWritten;
    }
    this.count++;
  }

  /** Flushes and closes; the result can go straight to encodeVideo. */
  async close(): Promise<RawFrames> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close();
    }
    return { path: this.path, width: this.width, height: this.height, count: this.count };
  }

  /** Closes and deletes the file (after a failure). */
  async discard(): Promise<void> {
    await this.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}
