// extractFrames: decode exactly the frames of a tick range (see range.ts for the rule) into a
// raw rgb24 file at processing size (see size.ts), rotation applied. Frames stream from
// ffmpeg to disk, never through memory; readFrame reads one back.
import { randomUUID } from 'node:crypto';
import { open, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkMedia } from './capabilities.ts';
import { sourceToRgbOptions } from './color.ts';
import { MediaError } from './errors.ts';
import { fileInput, fileUrl, runFfmpeg } from './ffmpeg.ts';
import { probe } from './probe.ts';
import { ptsSeconds } from './packets.ts';
import { selectRange, type RangeSelection } from './range.ts';
import { DEFAULT_SHORT_SIDE, assertShortSide, displayAspect, processingSize, type Size } from './size.ts';
import { timeBaseToTicks } from '../../shared/ticks.ts';
import type { ExtractOptions, FrameSet, MediaInfo, MediaProgress, RawFrames } from './types.ts';

/** Seconds ffmpeg seeks before the first frame; the pts filter does the exact cut. */
const SEEK_MARGIN_SECONDS = 1;

export async function extractFrames(options: ExtractOptions): Promise<FrameSet> {
  const shortSide = options.shortSide ?? DEFAULT_SHORT_SIDE;
  assertShortSide(shortSide);
  const workDir = await checkWorkDir(options.workDir);
  const info = options.info ?? (await probe(options.input, { signal: options.signal }));
  const range = await selectRange(info, options.startTicks, options.endTicks, options.signal);
  const size = processingSize(displayAspect(info.video), shortSide);
  const path = join(workDir, `frames-${size.width}x${size.height}-${randomUUID()}.rgb`);
  const frames: RawFrames = { path, ...size, count: range.pts.length };

  try {
    // A seek that lands late would lose frames; the count check catches it, then retry unseeked.
    let written = await decode(info, range, frames, true, options);
    if (written < frames.count && seekSeconds(info, range) > 0) written = await decode(info, range, frames, false, options);
    if (written !== frames.count) {
      throw new MediaError('corrupt', `"${info.path}": decoded ${written} of the ${frames.count} frames in the range; the file is damaged`, {
        path: info.path,
      });
    }
  } catch (err) {
    await unlink(path).catch(() => undefined);
    throw err;
  }
  options.onProgress?.({ done: frames.count, total: frames.count });
  const { timeBase } = info.video;
  return {
    ...frames,
    source: info.path,
    startTicks: range.start.toString(),
    endTicks: range.end.toString(),
    firstFrameIndex: range.firstFrameIndex,
    frameRate: info.video.frameRate,
    timeBase,
    pts: range.pts,
    ptsTicks: range.pts.map((p) => timeBaseToTicks(p - info.video.firstPts, timeBase).toString()),
  };
}

/** Runs ffmpeg once; resolves to the number of whole frames written. */
async function decode(info: MediaInfo, range: RangeSelection, frames: RawFrames, seek: boolean, options: ExtractOptions): Promise<number> {
  const caps = await checkMedia();
  const video = info.video;
  const first = range.pts[0];
  const last = range.pts[range.pts.length - 1];
  const byPosition = video.timestampSource === 'dts';
  const filters = [
    byPosition
      ? // No presentation times in the file: the n-th decoded frame (from the start) is frame n.
        `select='between(n\\,${range.firstFrameIndex}\\,${range.firstFrameIndex + range.pts.length - 1})'`
      : // Integer pts against integer bounds: exact, whatever the frame rate.
        `select='between(pts\\,${first}\\,${last})'`,
    ...rotationFilters(video.rotation),
    `scale=w=${frames.width}:h=${frames.height}:flags=lanczos+accurate_rnd+full_chroma_int:${sourceToRgbOptions(video.color, video.height)}`,
    'format=rgb24',
  ];
  const seekTo = seek && !byPosition ? seekSeconds(info, range) : 0;
  const args = [
    // Rotation is applied by the filters above, identically on every ffmpeg version.
    '-noautorotate',
    // Keep the source timestamps so the select filter sees the same pts as the range scan.
    '-copyts',
    ...(seekTo > 0 ? ['-noaccurate_seek', '-ss', seekTo.toFixed(6)] : []),
    ...fileInput(info.path),
    '-map',
    `0:${video.index}`,
    '-vf',
    filters.join(','),
    // Every selected frame exactly once: no duplication or dropping to a constant rate.
    caps.fpsModeOption,
    'passthrough',
    '-frames:v',
    String(frames.count),
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-progress',
    'pipe:1',
    '-nostats',
    '-y',
    fileUrl(frames.path),
  ];
  await runFfmpeg(args, {
    what: 'extracting frames from',
    file: info.path,
    signal: options.signal,
    onProgress: progressReporter(frames.count, options.onProgress),
  });
  const bytes = (await stat(frames.path)).size;
  return Math.floor(bytes / frameBytes(frames));
}

/** Input seek point in seconds from the file start: a margin before the first frame. */
function seekSeconds(info: MediaInfo, range: RangeSelection): number {
  const fromZero = Number(ptsSeconds(range.pts[0] - info.video.firstPts, info.video.timeBase));
  return Math.max(0, fromZero - SEEK_MARGIN_SECONDS);
}

/** Filters turning the stored picture upright (clockwise degrees). */
export function rotationFilters(rotation: 0 | 90 | 180 | 270): string[] {
  if (rotation === 90) return ['transpose=clock'];
  if (rotation === 270) return ['transpose=cclock'];
  if (rotation === 180) return ['hflip', 'vflip'];
  return [];
}

export function progressReporter(total: number, onProgress?: (p: MediaProgress) => void) {
  if (!onProgress) return undefined;
  return (fields: Record<string, string>) => {
    const done = Number(fields.frame);
    if (Number.isFinite(done)) onProgress({ done: Math.min(done, total), total });
  };
}

export function frameBytes(frames: Size): number {
  return frames.width * frames.height * 3;
}

async function checkWorkDir(dir: string): Promise<string> {
  const absolute = resolve(dir ?? '');
  const info = await stat(absolute).catch(() => undefined);
  if (!dir || !info?.isDirectory()) {
    throw new MediaError('invalid_argument', `the work directory "${absolute}" does not exist or is not a directory`, { path: absolute });
  }
  return absolute;
}

/** Frame `index` (0-based) of a frame file, as rgb24 bytes (width * height * 3). */
export async function readFrame(frames: RawFrames, index: number): Promise<Uint8Array> {
  if (!Number.isInteger(index) || index < 0 || index >= frames.count) {
    throw new MediaError('invalid_argument', `frame index ${index} is outside 0..${frames.count - 1} of "${frames.path}"`, { path: frames.path });
  }
  const length = frameBytes(frames);
  const buffer = new Uint8Array(length);
  const handle = await open(frames.path, 'r');
  try {
    const { bytesRead } = await handle.read(buffer, 0, length, index * length);
    if (bytesRead !== length) {
      throw new MediaError('corrupt', `"${frames.path}" ends inside frame ${index} (${bytesRead} of ${length} bytes)`, { path: frames.path });
    }
  } finally {
    await handle.close();
  }
  return buffer;
}
