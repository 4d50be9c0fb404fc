// What the ffmpeg in use can do: versions, the encoders we need, and which spelling of the
// frame-sync option it takes. Checked once per pair of binary paths and cached; the daemon
// logs describeCapabilities() at start.
import { resolveBinaries } from './binaries.ts';
import { runProcess } from './ffmpeg.ts';
import type { MediaBinaries, MediaCapabilities, OutputCodec } from './types.ts';

const NEEDED_ENCODERS = ['prores_ks', 'libx264', 'aac', 'pcm_s16le', 'pcm_s24le'] as const;

const cache = new Map<string, Promise<MediaCapabilities>>();

/** Versions and encoders of the current binaries (cached per path pair). */
export function checkMedia(options: { refresh?: boolean } = {}): Promise<MediaCapabilities> {
  const binaries = resolveBinaries();
  const key = `${binaries.ffmpeg}\0${binaries.ffprobe}`;
  let entry = cache.get(key);
  if (!entry || options.refresh) {
    entry = inspect(binaries);
    cache.set(key, entry);
    // A failed check (binary missing) is not cached: the user may fix the path and retry.
    entry.catch(() => cache.delete(key));
  }
  return entry;
}

async function inspect(binaries: MediaBinaries): Promise<MediaCapabilities> {
  const run = (binary: string, args: string[]) =>
    runProcess(binary, ['-hide_banner', ...args], { what: `checking ${binary}`, collectStdout: true });
  const [ffmpegVersion, ffprobeVersion, encoderList, help] = await Promise.all([
    run(binaries.ffmpeg, ['-version']),
    run(binaries.ffprobe, ['-version']),
    run(binaries.ffmpeg, ['-encoders']),
    run(binaries.ffmpeg, ['-h', 'long']),
  ]);
  const present = new Set(
    encoderList.stdout
      .split('\n')
      .map((line) => /^\s*[VAS][A-Z.]{5}\s+(\S+)/.exec(line)?.[1])
      .filter((name): name is string => Boolean(name)),
  );
  const encoders = Object.fromEntries(NEEDED_ENCODERS.map((e) => [e, present.has(e)])) as MediaCapabilities['encoders'];
  const codecs: OutputCodec[] = [];
  if (encoders.prores_ks) codecs.push('prores');
  if (encoders.libx264) codecs.push('h264');
  const warnings: string[] = [];
  if (!encoders.prores_ks) warnings.push(`${binaries.ffmpeg} has no prores_ks encoder: ProRes output is unavailable`);
  if (!encoders.libx264) warnings.push(`${binaries.ffmpeg} has no libx264 encoder: H.264 output is unavailable (ProRes still works)`);
  if (!encoders.pcm_s16le || !encoders.pcm_s24le) warnings.push(`${binaries.ffmpeg} lacks PCM encoders: audio in .mov is unavailable`);
  if (!encoders.aac) warnings.push(`${binaries.ffmpeg} has no aac encoder: audio in .mp4 is unavailable`);
  return {
    ...binaries,
    ffmpegVersion: versionOf(ffmpegVersion.stdout),
    ffprobeVersion: versionOf(ffprobeVersion.stdout),
    encoders,
    codecs,
    fpsModeOption: /^\s*-fps_mode\b/m.test(help.stdout) ? '-fps_mode' : '-vsync',
    warnings,
  };
}

/** 'ffmpeg version N-47683-g0e8eb07980-static https://...' -> 'N-47683-g0e8eb07980-static'. */
function versionOf(output: string): string {
  return /version\s+(\S+)/.exec(output)?.[1] ?? 'unknown';
}

/** One log line (plus warnings) for the daemon's start-up. */
export function describeCapabilities(c: MediaCapabilities): string {
  const lines = [
    `ffmpeg ${c.ffmpegVersion} (${c.ffmpegSource}: ${c.ffmpeg}), ffprobe ${c.ffprobeVersion} (${c.ffprobeSource}: ${c.ffprobe}); output codecs: ${c.codecs.join(', ') || 'none'}`,
    ...c.warnings.map((w) => `warning: ${w}`),
  ];
  return lines.join('\n');
}
