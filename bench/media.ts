// Media throughput: a generated 10-second 1080p H.264 clip (testsrc2, 30 fps, 300 frames) is
// probed, every frame extracted at processing size (short side 512 -> 912x512 rgb24), and the
// frames encoded back to 1080p ProRes 422 HQ, as a job does. Reports frames per second of each
// step with the bundled (or TOKENFLOW_FFMPEG) ffmpeg.
// Run through `npm run bench`, or alone: node --import tsx bench/media.ts
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { checkMedia, encodeVideo, extractFrames, probe, resolveBinaries } from '../companion/media/index.ts';

const SECONDS = 10;
const RATE = 30;

export async function benchMedia(): Promise<object> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenflow-bench-media-'));
  try {
    const caps = await checkMedia();
    const source = join(dir, 'source-1080p.mp4');
    const work = join(dir, 'work');
    const out = join(dir, 'out');
    await mkdir(work);
    await mkdir(out);

    let t = performance.now();
    await promisify(execFile)(resolveBinaries().ffmpeg, [
      '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
      '-f', 'lavfi', '-i', `testsrc2=s=1920x1080:r=${RATE}:d=${SECONDS}`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p', source,
    ]);
    const generateMs = performance.now() - t;

    t = performance.now();
    const info = await probe(source);
    const probeMs = performance.now() - t;
    const startTicks = '0';
    const endTicks = info.video.durationTicks;

    t = performance.now();
    const frames = await extractFrames({ input: source, info, startTicks, endTicks, shortSide: 512, workDir: work });
    const extractMs = performance.now() - t;

    t = performance.now();
    const result = await encodeVideo({ frames, source: info, startTicks, endTicks, output: join(out, 'render.mov'), codec: 'prores', withAudio: false });
    const encodeMs = performance.now() - t;

    const fps = (ms: number) => Number(((frames.count * 1000) / ms).toFixed(2));
    return {
      ffmpeg: caps.ffmpegVersion,
      ffprobe: caps.ffprobeVersion,
      cpus: availableParallelism(),
      clip: { width: info.video.width, height: info.video.height, frames: info.video.frameCount, fps: RATE, codec: info.video.codec, generateMs: Math.round(generateMs) },
      probeMs: Math.round(probeMs),
      extract: { frames: frames.count, size: `${frames.width}x${frames.height}`, ms: Math.round(extractMs), fps: fps(extractMs) },
      encode: { frames: result.frameCount, size: `${result.width}x${result.height}`, codec: 'prores 422 HQ', ms: Math.round(encodeMs), fps: fps(encodeMs), megabytes: Number((result.bytes / 1e6).toFixed(1)) },
      roundTripFps: fps(extractMs + encodeMs),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await benchMedia(), null, 2));
}
