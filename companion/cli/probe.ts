// `tokenflow probe <file> [--json]`: what the companion sees in a media file.
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { MediaError, probe, processingSize, displayAspect, DEFAULT_SHORT_SIDE, type MediaInfo } from '../media/index.ts';
import { rationalToString } from '../media/rational.ts';

const help = `Usage: tokenflow probe <file> [--json]

Shows what the companion reads from a video file: size, rotation, exact frame rate
(constant or variable), frame count, duration in seconds and Premiere ticks, pixel format,
colour tags, audio streams, and the processing size used for edits.

Options:
  --json      print the probe as JSON (the MediaInfo object of companion/media)
  -h, --help  show this help

Exit codes: 0 ok, 1 the file is missing, unreadable or not a usable video (the message
says which), 2 usage error.`;

export const command: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, { json: { type: 'boolean' } }, Infinity);
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length ? 'give exactly one file' : 'missing <file>');
    }
    let info: MediaInfo;
    try {
      info = await probe(positionals[0]);
    } catch (err) {
      if (err instanceof MediaError) {
        console.error(`tokenflow probe: ${err.message} [${err.code}]`);
        return 1;
      }
      throw err;
    }
    console.log(values.json ? JSON.stringify(info, null, 2) : formatTable(info));
    return 0;
  },
};

export function formatTable(info: MediaInfo): string {
  const v = info.video;
  const fps = (r: { num: number; den: number }) => `${rationalToString(r)} (${(r.num / r.den).toFixed(3)} fps)`;
  const color = v.color;
  const processing = processingSize(displayAspect(v), DEFAULT_SHORT_SIDE);
  const rows: Array<[string, string]> = [
    ['File', info.path],
    ['Container', `${info.container}, ${formatBytes(info.sizeBytes)}`],
    ['Video', `${v.codec}${v.profile ? ` (${v.profile})` : ''}, ${v.width}x${v.height}, ${v.pixelFormat}, stream #${v.index}`],
    ['Display', `${v.displayWidth}x${v.displayHeight}${v.rotation ? `, rotated ${v.rotation}° clockwise` : ''}${isSquare(v.sampleAspectRatio) ? '' : `, pixel aspect ${rationalToString(v.sampleAspectRatio)}`}`],
    ['Frame rate', `${fps(v.frameRate)}, ${v.variableFrameRate ? 'variable' : 'constant'} (r_frame_rate ${rationalToString(v.rFrameRate)}, avg ${rationalToString(v.avgFrameRate)})`],
    ['Frames', `${v.frameCount} (${v.frameCountSource === 'header' ? 'from the header' : 'counted from packets'})`],
    ['Duration', `${v.durationSeconds.toFixed(6)} s = ${v.durationTicks} ticks`],
    ['Colour', `primaries ${color.primaries ?? '?'}, transfer ${color.transfer ?? '?'}, matrix ${color.matrix ?? '?'}, range ${color.range ?? '?'}`],
    ['Timecode', v.timecode ?? '-'],
  ];
  if (info.audio.length === 0) rows.push(['Audio', 'none']);
  info.audio.forEach((a, i) => {
    const layout = a.channelLayout ? ` (${a.channelLayout})` : '';
    rows.push([`Audio ${i + 1}`, `${a.codec}, ${a.channels} ch${layout}, ${a.sampleRate} Hz${a.sampleFormat ? `, ${a.sampleFormat}` : ''}, stream #${a.index}`]);
  });
  rows.push(['Processing', `${processing.width}x${processing.height} (short side ${DEFAULT_SHORT_SIDE})`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, value]) => `${k.padEnd(width)}  ${value}`).join('\n');
}

function isSquare(r: { num: number; den: number }): boolean {
  return r.num === r.den;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
