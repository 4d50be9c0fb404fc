// probe(path) -> MediaInfo: what the rest of the companion needs to know about a clip, with
// frame timing read from the packet timestamps rather than trusted from the header alone.
import { MediaError } from './errors.ts';
import { fileUrl, runFfprobe } from './ffmpeg.ts';
import { scanPackets, ptsSeconds, type Packet, type PacketScan } from './packets.ts';
import { parseRational, rationalToString, reduce } from './rational.ts';
import { checkSourceFile } from './source-file.ts';
import { timeBaseToTicks } from '../../shared/ticks.ts';
import type { AudioStreamInfo, ColorInfo, MediaInfo, ProbeOptions, Rational, VideoStreamInfo } from './types.ts';

/** Packets read from the start when the header has a frame count (timing and time zero). */
const HEAD_PACKETS = 1200;
/** Seconds read at the end when the header has a frame count (true end, truncation check). */
const TAIL_SECONDS = 3;

interface FfprobeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  pix_fmt?: string;
  color_range?: string;
  color_space?: string;
  color_transfer?: string;
  color_primaries?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  time_base?: string;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
  channels?: number;
  channel_layout?: string;
  sample_rate?: string;
  sample_fmt?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: Array<Record<string, unknown>>;
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string; tags?: Record<string, string> };
}

/** Probes a media file; throws MediaError naming the file and the problem for bad media. */
export async function probe(path: string, options: ProbeOptions = {}): Promise<MediaInfo> {
  const file = await checkSourceFile(path);
  const header = await readHeader(file.path, options.signal);
  const container = header.format?.format_name ?? 'unknown';
  const streams = header.streams ?? [];
  const stream = pickVideoStream(streams, container, file.path);
  const audio = streams.filter((s) => s.codec_type === 'audio').map(audioInfo);

  const timeBase = parseRational(stream.time_base);
  if (!timeBase || !stream.width || !stream.height) {
    throw new MediaError('corrupt', `"${file.path}" has a video stream without size or time base; the file is damaged`, { path: file.path });
  }
  const timing = await readTiming(file.path, file.sizeBytes, stream, timeBase, Number(header.format?.duration), options.signal);
  const rotation = rotationOf(stream);
  const sar = parseRational(stream.sample_aspect_ratio) ?? { num: 1, den: 1 };
  const rFrameRate = parseRational(stream.r_frame_rate);
  const avgFrameRate = parseRational(stream.avg_frame_rate);
  const frameRate = chooseFrameRate(rFrameRate, avgFrameRate, timing, timeBase);
  if (!frameRate) {
    throw new MediaError('corrupt', `"${file.path}" has no usable frame rate (r_frame_rate ${stream.r_frame_rate}, avg_frame_rate ${stream.avg_frame_rate})`, {
      path: file.path,
    });
  }
  const durationPts = timing.endPts - timing.firstPts;
  const swap = rotation === 90 || rotation === 270;

  const video: VideoStreamInfo = {
    index: stream.index,
    codec: stream.codec_name ?? 'unknown',
    profile: stream.profile ?? null,
    width: stream.width,
    height: stream.height,
    displayWidth: swap ? stream.height : stream.width,
    displayHeight: swap ? stream.width : stream.height,
    sampleAspectRatio: sar,
    rotation,
    pixelFormat: stream.pix_fmt ?? 'unknown',
    color: colorInfo(stream),
    rFrameRate: rFrameRate ?? frameRate,
    avgFrameRate: avgFrameRate ?? frameRate,
    frameRate,
    variableFrameRate: timing.variable,
    timeBase,
    frameCount: timing.frameCount,
    frameCountSource: timing.frameCountSource,
    firstPts: timing.firstPts,
    timestampSource: timing.timestampSource,
    durationTicks: timeBaseToTicks(durationPts, timeBase).toString(),
    durationSeconds: (durationPts * timeBase.num) / timeBase.den,
    timecode: stream.tags?.timecode ?? header.format?.tags?.timecode ?? timecodeStream(streams),
  };
  const formatDuration = Number(header.format?.duration);
  return {
    path: file.path,
    sizeBytes: file.sizeBytes,
    container,
    durationSeconds: Number.isFinite(formatDuration) ? formatDuration : video.durationSeconds,
    video,
    audio,
  };
}

async function readHeader(path: string, signal?: AbortSignal): Promise<FfprobeOutput> {
  try {
    const { stdout } = await runFfprobe(['-protocol_whitelist', 'file', '-show_format', '-show_streams', '-of', 'json', fileUrl(path)], {
      what: 'probing',
      file: path,
      signal,
    });
    return JSON.parse(stdout) as FfprobeOutput;
  } catch (err) {
    const notMedia = err instanceof MediaError && (err.code === 'corrupt' || err.code === 'ffmpeg');
    if (notMedia && !DAMAGED_CONTAINER.test(err.message)) {
      // ffprobe found no container it can read: a text file, a document, random bytes.
      const detail = err.message.replace(/^.*?probing "[^"]*":\s*/, '');
      throw new MediaError('not_video', `"${path}" is not a video file ffprobe can read (${detail})`, { path, cause: err });
    }
    throw err;
  }
}

/** ffprobe messages for a recognised container that is damaged, rather than not media at all. */
const DAMAGED_CONTAINER = /moov atom not found|partial file|ended prematurely|EBML header parsing failed|truncat/i;

function pickVideoStream(streams: FfprobeStream[], container: string, path: string): FfprobeStream {
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!video) {
    const audio = streams.filter((s) => s.codec_type === 'audio');
    const what = audio.length
      ? `audio only (${audio.map((a) => `${a.codec_name} ${a.channels}ch ${a.sample_rate} Hz`).join(', ')})`
      : 'no video or audio streams';
    throw new MediaError('not_video', `"${path}" has no video stream: ${what}`, { path });
  }
  if (container === 'image2' || container.endsWith('_pipe')) {
    throw new MediaError('not_video', `"${path}" is a still image (${video.codec_name}), not a video`, { path });
  }
  return video;
}

interface Timing {
  firstPts: number;
  /** pts just after the last frame (its pts + duration). */
  endPts: number;
  frameCount: number;
  frameCountSource: 'packets' | 'header';
  /** Median gap between frames, in time-base units. */
  typicalDelta: number;
  variable: boolean;
  timestampSource: 'pts' | 'dts';
}

/**
 * Frame timing from packet timestamps. With a header frame count (MP4/MOV), only the first
 * HEAD_PACKETS and the last TAIL_SECONDS are read, so a long file is not read in full; without
 * one (Matroska, WebM, MPEG-TS...), every packet is counted.
 */
async function readTiming(
  path: string,
  sizeBytes: number,
  stream: FfprobeStream,
  timeBase: Rational,
  formatSeconds: number,
  signal?: AbortSignal,
): Promise<Timing> {
  const headerCount = Number(stream.nb_frames);
  // Where the end is, to read only the last seconds (stream duration, else the file's).
  const headerSeconds = [Number(stream.duration), formatSeconds].find((s) => Number.isFinite(s) && s > 0);
  const hasHeaderCount = Number.isInteger(headerCount) && headerCount > 0 && headerSeconds !== undefined;
  const head = await scanPackets(path, stream.index, { interval: hasHeaderCount ? `%+#${HEAD_PACKETS}` : undefined, signal });
  assertReadable(head, path);
  const complete = !hasHeaderCount || head.packets.length < HEAD_PACKETS;
  let tail = head.packets;
  if (!complete) {
    const firstPts = head.packets[0].pts;
    const lastSecond = Number(ptsSeconds(firstPts, timeBase)) + (headerSeconds ?? 0);
    const from = Math.max(0, lastSecond - TAIL_SECONDS);
    const tailScan = await scanPackets(path, stream.index, { interval: `${from.toFixed(6)}%+${TAIL_SECONDS + 60}`, signal });
    assertReadable(tailScan, path);
    const beyondEnd = tailScan.packets.find((p) => p.pos >= 0 && p.size > 0 && p.pos + p.size > sizeBytes);
    if (beyondEnd) {
      throw new MediaError('corrupt', `"${path}" is truncated: frame data ends at byte ${beyondEnd.pos + beyondEnd.size} but the file has ${sizeBytes} bytes`, {
        path,
      });
    }
    tail = tailScan.packets;
  }
  const deltas = gaps(head.packets);
  const typicalDelta = median(deltas);
  const last = tail[tail.length - 1];
  return {
    firstPts: head.packets[0].pts,
    endPts: last.pts + (last.duration > 0 ? last.duration : typicalDelta),
    frameCount: complete ? head.packets.length : headerCount,
    frameCountSource: complete ? 'packets' : 'header',
    typicalDelta,
    // Gaps may differ by one unit from rounding to the time base (29.97 in milliseconds: 33, 34).
    variable: deltas.length > 1 && Math.max(...deltas) - Math.min(...deltas) > 1,
    timestampSource: head.missingPts > 0 ? 'dts' : 'pts',
  };
}

function assertReadable(scan: PacketScan, path: string): void {
  if (scan.errors.length) {
    throw new MediaError('corrupt', `"${path}" is damaged or truncated: ${scan.errors.slice(-3).join(' | ')}`, { path });
  }
  if (scan.packets.length === 0) {
    const why = scan.untimed ? ` (${scan.untimed} frames without timestamps)` : '';
    throw new MediaError('corrupt', `"${path}" has no readable video frames${why}`, { path });
  }
}

function gaps(packets: Packet[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < packets.length; i++) out.push(packets[i].pts - packets[i - 1].pts);
  return out;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * The rate to render at. Constant-rate video: r_frame_rate when one frame at that rate matches
 * the measured frame gap (within one time-base unit), else avg_frame_rate (r_frame_rate can be
 * the field rate of interlaced video), else the gap itself. Variable-rate video: the measured
 * average, frames / duration (containers such as Matroska report a nominal avg_frame_rate).
 */
function chooseFrameRate(r: Rational | undefined, avg: Rational | undefined, timing: Timing, timeBase: Rational): Rational | undefined {
  const matchesGap = (rate: Rational) =>
    timing.typicalDelta > 0 &&
    Math.abs(rate.den * timeBase.den - timing.typicalDelta * timeBase.num * rate.num) <= timeBase.num * rate.num;
  const duration = timing.endPts - timing.firstPts;
  if (timing.variable && duration > 0) return reduce({ num: timing.frameCount * timeBase.den, den: duration * timeBase.num });
  if (r && matchesGap(r)) return r;
  if (avg && matchesGap(avg)) return avg;
  if (timing.typicalDelta > 0) return reduce({ num: timeBase.den, den: timing.typicalDelta * timeBase.num });
  return avg ?? r;
}

/** Clockwise degrees to turn the stored picture upright. */
function rotationOf(stream: FfprobeStream): VideoStreamInfo['rotation'] {
  let clockwise: number | undefined;
  for (const side of stream.side_data_list ?? []) {
    const value = Number(side.rotation);
    // The display matrix rotation is counter-clockwise.
    if (side.rotation !== undefined && Number.isFinite(value)) clockwise = -value;
  }
  if (clockwise === undefined && stream.tags?.rotate !== undefined) {
    // Older ffprobe versions: a 'rotate' tag in clockwise degrees.
    const value = Number(stream.tags.rotate);
    if (Number.isFinite(value)) clockwise = value;
  }
  const quarter = (((Math.round((clockwise ?? 0) / 90) * 90) % 360) + 360) % 360;
  return quarter as VideoStreamInfo['rotation'];
}

function colorInfo(stream: FfprobeStream): ColorInfo {
  const known = (v: string | undefined) => (v && v !== 'unknown' && v !== 'unspecified' && v !== 'reserved' ? v : null);
  const range = stream.color_range === 'tv' || stream.color_range === 'pc' ? stream.color_range : null;
  return {
    primaries: known(stream.color_primaries),
    transfer: known(stream.color_transfer),
    matrix: known(stream.color_space),
    range,
  };
}

function audioInfo(stream: FfprobeStream): AudioStreamInfo {
  const duration = Number(stream.duration);
  return {
    index: stream.index,
    codec: stream.codec_name ?? 'unknown',
    channels: stream.channels ?? 0,
    channelLayout: stream.channel_layout ?? null,
    sampleRate: Number(stream.sample_rate) || 0,
    sampleFormat: stream.sample_fmt ?? null,
    durationSeconds: Number.isFinite(duration) ? duration : null,
  };
}

function timecodeStream(streams: FfprobeStream[]): string | null {
  return streams.find((s) => s.tags?.timecode)?.tags?.timecode ?? null;
}

/** One-line summary, for logs: '1920x1080 h264 30000/1001 fps, 300 frames, 10.01 s'. */
export function describeMedia(info: MediaInfo): string {
  const v = info.video;
  const rate = `${rationalToString(v.frameRate)} fps${v.variableFrameRate ? ' (variable)' : ''}`;
  const rot = v.rotation ? `, rotated ${v.rotation}°` : '';
  const audio = info.audio.length ? `, audio: ${info.audio.map((a) => `${a.codec} ${a.channels}ch ${a.sampleRate} Hz`).join('; ')}` : ', no audio';
  return `${v.displayWidth}x${v.displayHeight} ${v.codec} ${rate}, ${v.frameCount} frames, ${v.durationSeconds.toFixed(3)} s${rot}${audio}`;
}
