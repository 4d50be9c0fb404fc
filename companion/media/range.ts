// Which source frames a range of Premiere ticks holds. The rule (README "Frame accuracy"):
//
//   Media time zero is the first frame's pts (MediaInfo.video.firstPts). The range ends are
//   converted to the stream's time base exactly, rounding to the nearest unit (halves up):
//     startPts = firstPts + round(startTicks / ticksPerUnit)
//     endPts   = firstPts + round(endTicks / ticksPerUnit)
//   The range holds exactly the frames with startPts <= pts < endPts, decided on each frame's
//   own timestamp. Nothing is computed as seconds x fps, so 29.97/23.976 and variable-rate
//   sources come out exact, and a container that rounds timestamps (Matroska: milliseconds)
//   still matches Premiere's frame boundaries.
import { MediaError } from './errors.ts';
import { scanPackets, ptsSeconds } from './packets.ts';
import { divRound, parseTicks, ticksToSeconds, ticksToTimeBase } from '../../shared/ticks.ts';
import type { MediaInfo, Ticks } from './types.ts';

/** Seconds read on each side of the range, so B-frame reordering and coarse seeks cannot cut frames off. */
const SCAN_MARGIN_SECONDS = 1;

export interface RangeSelection {
  start: bigint;
  end: bigint;
  /** [startPts, endPts) in the stream's time base. */
  startPts: number;
  endPts: number;
  /** pts of every frame in the range, ascending. */
  pts: number[];
  /** Presentation-order index of the first frame in the source. */
  firstFrameIndex: number;
}

/** Reads a [start, end) tick range and checks it against the clip; MediaError 'range' when it is unusable. */
export function parseRange(info: MediaInfo, startTicks: Ticks, endTicks: Ticks): { start: bigint; end: bigint } {
  let start: bigint;
  let end: bigint;
  try {
    start = parseTicks(startTicks, 'startTicks');
    end = parseTicks(endTicks, 'endTicks');
  } catch (err) {
    throw new MediaError('range', (err as Error).message, { path: info.path, cause: err });
  }
  const at = (t: bigint) => `${t} ticks (${ticksToSeconds(t).toFixed(6)} s)`;
  if (start === end) {
    throw new MediaError('range', `the range of "${info.path}" is zero-length: it starts and ends at ${at(start)}`, { path: info.path });
  }
  if (start > end) {
    throw new MediaError('range', `the range of "${info.path}" starts at ${at(start)}, after its end at ${at(end)}`, { path: info.path });
  }
  const { timeBase } = info.video;
  const durationUnits = ticksToTimeBase(BigInt(info.video.durationTicks), timeBase);
  // One unit of slack: the clip's end is itself a rounded timestamp.
  if (ticksToTimeBase(end, timeBase) > durationUnits + 1n) {
    throw new MediaError(
      'range',
      `the range of "${info.path}" ends at ${at(end)}, beyond the end of the clip at ${at(BigInt(info.video.durationTicks))}`,
      { path: info.path },
    );
  }
  return { start, end };
}

/** The frames of [startTicks, endTicks) in `info`'s video, by their timestamps (rule above). */
export async function selectRange(info: MediaInfo, startTicks: Ticks, endTicks: Ticks, signal?: AbortSignal): Promise<RangeSelection> {
  const { start, end } = parseRange(info, startTicks, endTicks);
  const { timeBase, firstPts } = info.video;
  const startPts = firstPts + Number(ticksToTimeBase(start, timeBase));
  const endPts = firstPts + Number(ticksToTimeBase(end, timeBase));

  const from = Number(ptsSeconds(startPts, timeBase)) - SCAN_MARGIN_SECONDS;
  const to = Number(ptsSeconds(endPts, timeBase)) + SCAN_MARGIN_SECONDS;
  const firstSeconds = Number(ptsSeconds(firstPts, timeBase));
  const interval = from > firstSeconds ? `${from.toFixed(6)}%${to.toFixed(6)}` : `%${to.toFixed(6)}`;
  let scan = await scanPackets(info.path, info.video.index, { interval, signal });
  if (from > firstSeconds && !(scan.packets[0]?.pts <= startPts)) {
    // The seek landed after the start (imprecise seeking, e.g. MPEG-TS): read from the beginning.
    scan = await scanPackets(info.path, info.video.index, { interval: `%${to.toFixed(6)}`, signal });
  }
  if (scan.errors.length) {
    throw new MediaError('corrupt', `"${info.path}" is damaged around the range: ${scan.errors.slice(-3).join(' | ')}`, { path: info.path });
  }
  const pts = [...new Set(scan.packets.map((p) => p.pts).filter((p) => p >= startPts && p < endPts))];
  if (pts.length === 0) {
    throw new MediaError(
      'range',
      `the range ${start}..${end} ticks of "${info.path}" holds no frame (it is shorter than a frame or falls between frames)`,
      { path: info.path },
    );
  }
  return { start, end, startPts, endPts, pts, firstFrameIndex: await frameIndexOf(info, pts[0], signal) };
}

/**
 * Presentation index of the frame at `pts`. Constant rate: from the rate (exact rational
 * maths). Variable rate: counted from the packets before it.
 */
async function frameIndexOf(info: MediaInfo, pts: number, signal?: AbortSignal): Promise<number> {
  const { timeBase, frameRate, firstPts } = info.video;
  if (!info.video.variableFrameRate) {
    const units = BigInt(pts - firstPts);
    return Number(divRound(units * BigInt(timeBase.num) * BigInt(frameRate.num), BigInt(timeBase.den) * BigInt(frameRate.den), 'round'));
  }
  const until = Number(ptsSeconds(pts, timeBase)) + SCAN_MARGIN_SECONDS;
  const scan = await scanPackets(info.path, info.video.index, { interval: `%${until.toFixed(6)}`, signal });
  return scan.packets.filter((p) => p.pts < pts).length;
}
