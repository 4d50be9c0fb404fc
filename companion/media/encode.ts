// encodeVideo: processing-size rgb24 frames -> a Premiere-friendly file at the source's size
// and frame rate, optionally with the source audio of the exact range. The file appears
// atomically: ffmpeg writes a hidden temp file in the output folder, which is verified, synced
// and renamed; on any failure (disk full, abort, bad frames) the temp file is removed.
import { randomBytes } from 'node:crypto';
import { open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { checkMedia } from './capabilities.ts';
import { BT709_TAGS, RGB_TO_BT709 } from './color.ts';
import { MediaError } from './errors.ts';
import { isSameFile } from './source-file.ts';
import { fileInput, fileUrl, runFfmpeg } from './ffmpeg.ts';
import { frameBytes, progressReporter } from './extract.ts';
import { probe } from './probe.ts';
import { rationalToString } from './rational.ts';
import { selectRange } from './range.ts';
import { displaySampleAspect, type Size } from './size.ts';
import { TICKS_PER_SECOND, divRound } from '../../shared/ticks.ts';
import type { AudioStreamInfo, EncodeOptions, EncodeResult, MediaCapabilities, MediaInfo, OutputCodec, RawFrames, Rational } from './types.ts';

type Container = 'mov' | 'mp4';

/** Seconds the audio input seeks before the range; atrim does the exact, sample-accurate cut. */
const AUDIO_SEEK_MARGIN_SECONDS = 1;

export async function encodeVideo(options: EncodeOptions): Promise<EncodeResult> {
  const { source, codec } = options;
  const caps = await checkMedia();
  assertCodecAvailable(codec, caps);
  const container = containerFor(options.output, codec);
  const output = await checkOutputPath(options.output, source.path);
  await checkFrames(options.frames);
  const range = await selectRange(source, options.startTicks, options.endTicks, options.signal);
  if (range.pts.length !== options.frames.count) {
    throw new MediaError(
      'invalid_argument',
      `"${options.frames.path}" has ${options.frames.count} frames but the range holds ${range.pts.length} frames of "${source.path}"`,
      { path: options.frames.path },
    );
  }
  const rate = options.frameRate ?? source.video.frameRate;
  if (!(rate.num > 0 && rate.den > 0 && Number.isInteger(rate.num) && Number.isInteger(rate.den))) {
    throw new MediaError('invalid_argument', `frame rate must be a positive integer ratio, got ${rate.num}/${rate.den}`);
  }
  const size = outputSize(source, codec);
  const audio = options.withAudio ? source.audio[0] : undefined;
  const audioCodec = audio ? audioCodecFor(container, audio, caps) : undefined;
  const temp = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.partial`);

  const args = [
    '-f', 'rawvideo', '-pix_fmt', 'rgb24',
    '-video_size', `${options.frames.width}x${options.frames.height}`,
    '-framerate', rationalToString(rate),
    ...fileInput(options.frames.path),
  ];
  const graph = [
    `[0:v]scale=w=${size.width}:h=${size.height}:flags=lanczos+accurate_rnd+full_chroma_int:${RGB_TO_BT709},` +
      `format=${codec === 'prores' ? 'yuv422p10le' : 'yuv420p'},setsar=${rationalToString(displaySampleAspect(source.video))}[v]`,
  ];
  const maps = ['-map', '[v]'];
  if (audio && audioCodec) {
    const { startSample, endSample, seek } = audioCut(source, audio, range.start, range.end);
    // Source timestamps kept (-copyts) so atrim's sample positions are absolute, like the range.
    args.push('-copyts', ...(seek > 0 ? ['-ss', seek.toFixed(6)] : []), ...fileInput(source.path));
    // apad: a source whose audio ends before the range does still yields the range's length
    // (silence at the end) instead of a render with a short or missing audio track.
    graph.push(`[1:${audio.index}]atrim=start_pts=${startSample}:end_pts=${endSample},asetpts=PTS-STARTPTS,apad=whole_len=${endSample - startSample}[a]`);
    maps.push('-map', '[a]');
  }
  args.push(
    '-filter_complex', graph.join(';'),
    ...maps,
    // No -frames:v: the frame file holds exactly `count` frames (checked), and on ffmpeg 4 a
    // frame limit on the video closes the audio stream too, cutting it short.
    ...videoCodecArgs(codec),
    ...BT709_TAGS,
    ...(audioCodec ? audioCodec.args : []),
    '-movflags', '+write_colr',
    '-f', container,
    '-progress', 'pipe:1', '-nostats',
    '-y', fileUrl(temp),
  );

  try {
    const { stderr } = await runFfmpeg(args, {
      what: `encoding ${options.frames.count} frames to`,
      file: output,
      signal: options.signal,
      onProgress: progressReporter(options.frames.count, options.onProgress),
    });
    // ffmpeg can exit 0 after failing to write the file's index (old versions); check the result.
    if (/No space left on device|Disk quota exceeded/i.test(stderr)) {
      throw new MediaError('disk_full', `no space left on the device of "${output}" while encoding`, { path: output });
    }
    await verifyOutput(temp, output, options.frames.count, size, Boolean(audioCodec), options.signal);
    await syncFile(temp);
    await rename(temp, output).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOSPC' || err.code === 'EDQUOT') throw err;
      throw new MediaError('invalid_argument', `cannot put the render in place at "${output}": ${err.message}`, { path: output, cause: err });
    });
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    if (err instanceof MediaError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new MediaError('disk_full', `no space left on the device of "${output}"`, { path: output, cause: err });
    }
    throw err;
  }
  options.onProgress?.({ done: options.frames.count, total: options.frames.count });
  return {
    output,
    codec,
    ...size,
    frameCount: options.frames.count,
    frameRate: rate,
    hasAudio: Boolean(audioCodec),
    bytes: (await stat(output)).size,
  };
}

function assertCodecAvailable(codec: OutputCodec, caps: MediaCapabilities): void {
  if (codec !== 'prores' && codec !== 'h264') {
    throw new MediaError('invalid_argument', `codec must be 'prores' or 'h264', got ${JSON.stringify(codec)}`);
  }
  if (!caps.codecs.includes(codec)) {
    const encoder = codec === 'prores' ? 'prores_ks' : 'libx264';
    const alternative = codec === 'h264' && caps.codecs.includes('prores') ? "use codec 'prores', or " : '';
    throw new MediaError('encoder', `${caps.ffmpeg} has no ${encoder} encoder; ${alternative}set TOKENFLOW_FFMPEG to an ffmpeg built with ${encoder}`);
  }
}

function containerFor(output: string, codec: OutputCodec): Container {
  const ext = extname(output ?? '').toLowerCase();
  if (ext === '.mov') return 'mov';
  if (ext === '.mp4' && codec === 'h264') return 'mp4';
  const allowed = codec === 'prores' ? '.mov' : '.mov or .mp4';
  throw new MediaError('invalid_argument', `output "${output}" must end in ${allowed} for ${codec}`, { path: output });
}

/** Absolute output path in an existing folder that is not the source media's folder. */
async function checkOutputPath(output: string, sourcePath: string): Promise<string> {
  const absolute = resolve(output);
  let folder: string;
  try {
    folder = await realpath(dirname(absolute));
    if (!(await stat(folder)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new MediaError('invalid_argument', `the output folder "${dirname(absolute)}" does not exist`, { path: absolute, cause: err });
  }
  if (await isSameFile(absolute, sourcePath)) {
    throw new MediaError('invalid_argument', `refusing to write "${absolute}": it is the source media "${sourcePath}" (the same file by another name)`, { path: absolute });
  }
  const sourceFolder = await realpath(dirname(resolve(sourcePath))).catch(() => dirname(resolve(sourcePath)));
  if (folder === sourceFolder) {
    throw new MediaError('invalid_argument', `refusing to write "${absolute}" next to the source media "${sourcePath}"; renders go to the output folder`, {
      path: absolute,
    });
  }
  return join(folder, basename(absolute));
}

async function checkFrames(frames: RawFrames): Promise<void> {
  const { width, height, count, path } = frames;
  if (![width, height, count].every((n) => Number.isInteger(n) && n > 0)) {
    throw new MediaError('invalid_argument', `frames need a positive integer width, height and count, got ${width}x${height} x ${count}`, { path });
  }
  const expected = count * frameBytes(frames);
  const actual = await stat(path).then((s) => s.size, () => -1);
  if (actual !== expected) {
    const found = actual < 0 ? 'does not exist' : `has ${actual} bytes`;
    throw new MediaError('invalid_argument', `frame file "${path}" ${found}; ${count} frames of ${width}x${height} rgb24 need ${expected}`, { path });
  }
}

/**
 * The source's displayed size (rotation applied), in its own pixels. H.264 4:2:0 needs even
 * sides, so an odd side is rounded up by one pixel there; ProRes keeps odd sizes.
 */
export function outputSize(source: MediaInfo, codec: OutputCodec): Size {
  const { displayWidth: width, displayHeight: height } = source.video;
  if (codec === 'h264') return { width: width + (width % 2), height: height + (height % 2) };
  return { width, height };
}

function videoCodecArgs(codec: OutputCodec): string[] {
  if (codec === 'prores') {
    // ProRes 422 HQ, 10-bit; 'apl0' vendor tag as Apple writes it (some apps check it).
    return ['-c:v', 'prores_ks', '-profile:v', '3', '-vendor', 'apl0', '-pix_fmt', 'yuv422p10le'];
  }
  return ['-c:v', 'libx264', '-preset', 'medium', '-crf', '16', '-profile:v', 'high', '-pix_fmt', 'yuv420p'];
}

function audioCodecFor(container: Container, audio: AudioStreamInfo, caps: MediaCapabilities): { args: string[] } {
  if (container === 'mp4') {
    if (!caps.encoders.aac) throw new MediaError('encoder', `${caps.ffmpeg} has no aac encoder for audio in .mp4; use .mov`);
    return { args: ['-c:a', 'aac', '-b:a', '320k'] };
  }
  // PCM in .mov: no encoder delay, so the cut stays sample-exact. 16-bit sources stay 16-bit.
  const sixteen = ['s16', 's16p', 'u8', 'u8p'].includes(audio.sampleFormat ?? '');
  const encoder = sixteen ? 'pcm_s16le' : 'pcm_s24le';
  if (!caps.encoders[encoder]) throw new MediaError('encoder', `${caps.ffmpeg} has no ${encoder} encoder for audio in .mov`);
  return { args: ['-c:a', encoder] };
}

/**
 * Sample positions (in 1/sampleRate units, absolute like the source's timestamps) of the range
 * [start, end): media time zero is the first video frame, as for the frames themselves.
 */
export function audioCut(source: MediaInfo, audio: AudioStreamInfo, start: bigint, end: bigint): { startSample: bigint; endSample: bigint; seek: number } {
  const tb: Rational = source.video.timeBase;
  const zero = BigInt(source.video.firstPts) * BigInt(tb.num) * TICKS_PER_SECOND; // ticks x tb.den
  const at = (ticks: bigint) =>
    divRound((zero + ticks * BigInt(tb.den)) * BigInt(audio.sampleRate), BigInt(tb.den) * TICKS_PER_SECOND, 'round');
  const seek = Math.max(0, Number(start) / Number(TICKS_PER_SECOND) - AUDIO_SEEK_MARGIN_SECONDS);
  return { startSample: at(start), endSample: at(end), seek };
}

/** The temp file must be a readable video with every frame, at the right size, with audio as asked. */
async function verifyOutput(temp: string, output: string, count: number, size: Size, audio: boolean, signal?: AbortSignal): Promise<void> {
  let info: MediaInfo;
  try {
    info = await probe(temp, { signal });
  } catch (err) {
    if (err instanceof MediaError && err.code === 'aborted') throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new MediaError('encoder', `the encoded file for "${output}" is unreadable: ${why}`, { path: output, cause: err });
  }
  const v = info.video;
  const problems = [
    v.frameCount !== count ? `${v.frameCount} frames instead of ${count}` : '',
    v.width !== size.width || v.height !== size.height ? `${v.width}x${v.height} instead of ${size.width}x${size.height}` : '',
    audio && info.audio.length === 0 ? 'no audio' : '',
  ].filter(Boolean);
  if (problems.length) {
    throw new MediaError('encoder', `the encoded file for "${output}" is wrong: ${problems.join(', ')}`, { path: output });
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
