// Reads the packet timestamps of one stream with ffprobe (demuxing only, no decoding: fast).
// Frame timing decisions (frame count, VFR, which frames a range holds) are made on these.
import { fileUrl, runFfprobe, stderrLines } from './ffmpeg.ts';
import type { Rational } from './types.ts';

export interface Packet {
  /** Presentation timestamp in the stream's time base (dts when the container has no pts). */
  pts: number;
  /** Duration in the time base; 0 when unknown. */
  duration: number;
  /** Byte position and size in the file; -1 when unknown. */
  pos: number;
  size: number;
  key: boolean;
}

export interface PacketScan {
  /** Packets in presentation order (sorted by pts), discarded packets left out. */
  packets: Packet[];
  /** Packets that had neither pts nor dts. */
  untimed: number;
  /** Packets that had no pts, so their dts was used (AVI and other containers without presentation times). */
  missingPts: number;
  /** What ffprobe reported at error level while reading (a damaged or truncated file). */
  errors: string[];
}

export interface ScanOptions {
  /**
   * ffprobe -read_intervals entry: 'A%B' (absolute seconds A to B; seeks to the key frame
   * before A) or '%+#N' (the first N packets). Whole stream when omitted.
   */
  interval?: string;
  signal?: AbortSignal;
}

export async function scanPackets(path: string, streamIndex: number, options: ScanOptions = {}): Promise<PacketScan> {
  const args = ['-protocol_whitelist', 'file', '-select_streams', String(streamIndex)];
  if (options.interval) args.push('-read_intervals', options.interval);
  args.push('-show_entries', 'packet=pts,dts,duration,size,pos,flags', '-of', 'compact=p=0:nk=0', fileUrl(path));
  const { stdout, stderr } = await runFfprobe(args, { what: 'reading frame timestamps of', file: path, signal: options.signal });

  const packets: Packet[] = [];
  let untimed = 0;
  let missingPts = 0;
  for (const line of stdout.split('\n')) {
    if (!line.includes('=')) continue;
    const fields = new Map(line.split('|').map((kv) => kv.split('=', 2) as [string, string]));
    const flags = fields.get('flags') ?? '';
    // 'D': the demuxer drops this packet (e.g. cut by an edit list); it is never shown.
    if (flags.includes('D')) continue;
    let pts = integer(fields.get('pts'));
    if (pts === undefined) {
      pts = integer(fields.get('dts'));
      if (pts === undefined) {
        untimed++;
        continue;
      }
      missingPts++;
    }
    packets.push({
      pts,
      duration: integer(fields.get('duration')) ?? 0,
      pos: integer(fields.get('pos')) ?? -1,
      size: integer(fields.get('size')) ?? -1,
      key: flags.includes('K'),
    });
  }
  packets.sort((a, b) => a.pts - b.pts);
  const errors = stderrLines(stderr);
  return { packets, untimed, missingPts, errors };
}

function integer(value: string | undefined): number | undefined {
  if (value === undefined || !/^-?\d+$/.test(value)) return undefined;
  return Number(value);
}

/** Seconds (for -read_intervals) of a pts; decimals enough to be below one time-base unit. */
export function ptsSeconds(pts: number, timeBase: Rational): string {
  return ((pts * timeBase.num) / timeBase.den).toFixed(6);
}
