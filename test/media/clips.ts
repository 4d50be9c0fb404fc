// Test clips made on the fly with ffmpeg's lavfi sources. Every frame carries its own index
// as 8 vertical bars (bar b, counted from the left, is white when bit b of the index is set),
// which survives compression, scaling and ProRes, so a test can read which source frame a
// decoded frame is.
import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveBinaries } from '../../companion/media/binaries.ts';

const run = promisify(execFile);

export async function ffmpeg(args: string[]): Promise<void> {
  await run(resolveBinaries().ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args]);
}

export async function ffprobeJson(path: string, entries: string): Promise<any> {
  const { stdout } = await run(resolveBinaries().ffprobe, ['-v', 'error', '-show_entries', entries, '-of', 'json', path]);
  return JSON.parse(stdout);
}

/** A temp dir (world-readable, so a test can read it as another user) and its cleanup. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `tokenflow-${prefix}-`));
  await chmod(dir, 0o755);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** geq luma expression drawing the frame index N as 8 bit-bars (limited range black/white). */
const INDEX_BARS = "geq=lum='if(bitand(floor(N/pow(2,floor(X*8/W))),1),235,16)':cb=128:cr=128";

export interface ClipOptions {
  width: number;
  height: number;
  /** lavfi rate, e.g. '25', '30000/1001'. */
  rate: string;
  frames: number;
  /** Extra filters after the index bars (e.g. setpts for variable frame rate). */
  filters?: string[];
  /** Output arguments for the codec; default H.264 (yuv420p, high quality). */
  codec?: string[];
  /** Audio: an aevalsrc expression in t (seconds), e.g. 'sin(2*PI*440*t)' or 't' for a ramp. */
  audio?: { expr: string; rate: number; codec: string[] };
  /** Extra output arguments (tags, timecode, -vsync...). */
  extra?: string[];
}

export const H264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '4', '-pix_fmt', 'yuv420p', '-bf', '2'];
export const FFV1 = ['-c:v', 'ffv1', '-pix_fmt', 'yuv420p'];

/** Writes an index-bars clip to `path`. */
export async function makeClip(path: string, o: ClipOptions): Promise<string> {
  const video = [`nullsrc=s=${o.width}x${o.height}:r=${o.rate}`, 'format=yuv420p', INDEX_BARS, ...(o.filters ?? [])].join(',');
  const args = ['-f', 'lavfi', '-i', video];
  if (o.audio) args.push('-f', 'lavfi', '-i', `aevalsrc=exprs='${o.audio.expr}':s=${o.audio.rate}`);
  args.push('-map', '0:v');
  if (o.audio) args.push('-map', '1:a', ...o.audio.codec, '-shortest');
  args.push('-frames:v', String(o.frames), ...(o.codec ?? H264), ...(o.extra ?? []), path);
  await ffmpeg(args);
  return path;
}

/** Reads the index bars of an rgb24 frame (sampled along the middle row). */
export function frameIndex(frame: Uint8Array, width: number, height: number): number {
  let value = 0;
  const y = Math.floor(height / 2);
  for (let bit = 0; bit < 8; bit++) {
    const x = Math.floor(((bit + 0.5) * width) / 8);
    if (frame[(y * width + x) * 3] > 128) value |= 1 << bit;
  }
  return value;
}

/** Mean luma-ish value (red channel) of a rectangle of an rgb24 frame. */
export function meanRed(frame: Uint8Array, width: number, x0: number, y0: number, x1: number, y1: number): number {
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      sum += frame[(y * width + x) * 3];
      n++;
    }
  }
  return sum / n;
}

/**
 * Sets the display matrix of every track in a MOV/MP4 to a clockwise rotation, the way a phone
 * writes it (QuickTime tkhd matrix; 90° clockwise is [0 1 0; -1 0 0; 0 0 1]). Done by hand so
 * the fixture does not depend on how a given ffmpeg version spells rotation metadata.
 */
export async function setRotation(path: string, clockwise: 0 | 90 | 180 | 270): Promise<void> {
  const [a, b, c, d] = { 0: [1, 0, 0, 1], 90: [0, 1, -1, 0], 180: [-1, 0, 0, -1], 270: [0, -1, 1, 0] }[clockwise];
  const data = await readFile(path);
  let found = 0;
  for (let i = data.indexOf('tkhd'); i >= 0; i = data.indexOf('tkhd', i + 4)) {
    const version = data[i + 4];
    // version/flags, times, track id, reserved, duration, reserved(8), layer, group, volume, reserved
    const matrix = i + 4 + 4 + (version === 1 ? 8 + 8 + 4 + 4 + 8 : 4 + 4 + 4 + 4 + 4) + 8 + 2 + 2 + 2 + 2;
    const values = [a, b, 0, c, d, 0, 0, 0, 1];
    values.forEach((v, k) => data.writeInt32BE(k % 3 === 2 ? v * 0x40000000 : v * 0x10000, matrix + 4 * k));
    found++;
  }
  if (!found) throw new Error(`no tkhd box in ${path}`);
  await writeFile(path, data);
}

/** Keeps the first `bytes` bytes of a file. */
export async function truncateTo(source: string, target: string, bytes: number): Promise<void> {
  const handle = await open(source, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    await writeFile(target, buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** Decodes an audio stream to raw little-endian 16-bit samples (first channel). */
export async function audioSamples(path: string): Promise<Int16Array> {
  const { stdout } = await run(
    resolveBinaries().ffmpeg,
    ['-hide_banner', '-loglevel', 'error', '-i', path, '-map', '0:a:0', '-ac', '1', '-f', 's16le', '-acodec', 'pcm_s16le', '-'],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return new Int16Array(stdout.buffer, stdout.byteOffset, stdout.byteLength / 2);
}
