// Where the ffmpeg and ffprobe executables are. Default: the binaries shipped inside the
// per-platform npm packages (@ffmpeg-installer/*, @ffprobe-installer/*; no install-time
// download), or, in the packaged companion, the ones the packager put in its ffmpeg/ folder. TOKENFLOW_FFMPEG / TOKENFLOW_FFPROBE point at other builds (e.g. a newer system
// ffmpeg). Resolved on every call, so a changed environment takes effect without a restart.
import { createRequire } from 'node:module';
import { packagedBinary } from '../layout.ts';
import { mediaBinariesFromEnv, processEnv, type Env } from '../config.ts';
import { MediaError } from './errors.ts';
import type { MediaBinaries } from './types.ts';

const require = createRequire(import.meta.url);

function bundled(pkg: '@ffmpeg-installer/ffmpeg' | '@ffprobe-installer/ffprobe', envName: string): string {
  const shipped = packagedBinary(pkg === '@ffmpeg-installer/ffmpeg' ? 'ffmpeg' : 'ffprobe');
  if (shipped) return shipped;
  try {
    // The installer packages throw (a string, for ffmpeg-installer) on unsupported platforms.
    return (require(pkg) as { path: string }).path;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new MediaError('binary', `no bundled ${pkg.split('/')[1]} for this platform (${why}); install ffmpeg and set ${envName} to its path`, {
      cause: err,
    });
  }
}

export function resolveBinaries(env: Env = processEnv()): MediaBinaries {
  const { ffmpeg: ffmpegEnv, ffprobe: ffprobeEnv } = mediaBinariesFromEnv(env);
  return {
    ffmpeg: ffmpegEnv || bundled('@ffmpeg-installer/ffmpeg', 'TOKENFLOW_FFMPEG'),
    ffprobe: ffprobeEnv || bundled('@ffprobe-installer/ffprobe', 'TOKENFLOW_FFPROBE'),
    ffmpegSource: ffmpegEnv ? 'env' : 'bundled',
    ffprobeSource: ffprobeEnv ? 'env' : 'bundled',
  };
}
