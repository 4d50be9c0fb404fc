import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, readdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  FrameWriter,
  MediaError,
  encodeVideo,
  extractFrames,
  probe,
  readFrame,
  type EncodeOptions,
  type FrameSet,
  type MediaInfo,
  type RawFrames,
} from '../../companion/media/index.ts';
import { resolveBinaries } from '../../companion/media/binaries.ts';
import { frameIndexToTicks } from '../../shared/ticks.ts';
import { FFV1, H264, audioSamples, ffmpeg, ffprobeJson, frameIndex, makeClip, meanRed, setRotation, tempDir } from './clips.ts';

let dir: string;
let work: string;
let out: string;
let cleanup: () => Promise<void>;
const clip: Record<string, string> = {};
const infos: Record<string, MediaInfo> = {};

before(async () => {
  ({ dir, cleanup } = await tempDir('encode'));
  work = join(dir, 'work');
  out = join(dir, 'renders');
  await mkdir(work);
  await mkdir(out);
  const at = (name: string) => join(dir, name);
  await Promise.all([
    makeClip((clip.ntsc = at('ntsc.mp4')), {
      width: 64,
      height: 48,
      rate: '30000/1001',
      frames: 45,
      audio: { expr: 'sin(2*PI*440*t)|sin(2*PI*660*t)', rate: 48000, codec: ['-c:a', 'aac'] },
    }),
    // Audio is a ramp: sample value = t/2 of full scale, so a sample tells its own time.
    makeClip((clip.ramp = at('ramp.mov')), {
      width: 64,
      height: 48,
      rate: '25',
      frames: 40,
      audio: { expr: 't/2', rate: 48000, codec: ['-c:a', 'pcm_s16le'] },
    }),
    // 2 s of video with 0.5 s of audio (a camera that stopped recording sound early).
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=64x48:r=10:d=2', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=0.5',
      ...H264, '-c:a', 'pcm_s16le', (clip.shortAudio = at('short_audio.mov'))]),
    makeClip((clip.odd = at('odd.mkv')), { width: 321, height: 241, rate: '25', frames: 4, codec: FFV1 }),
    ffmpeg(['-f', 'lavfi', '-i', "nullsrc=s=96x64:r=25,format=yuv420p,geq=lum='if(lt(X,W/2),16,235)':cb=128:cr=128", '-frames:v', '3', ...H264, (clip.rot90 = at('rot90.mp4'))]),
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=25', '-frames:v', '50', '-c:v', 'libx264', '-preset', 'ultrafast', (clip.busy = at('busy.mp4'))]),
  ]);
  await setRotation(clip.rot90, 90);
  for (const [name, path] of Object.entries(clip)) infos[name] = await probe(path);
});

after(() => cleanup());

/** Source frames [a, b) of a clip, extracted at processing size, plus the matching range. */
async function framesOf(name: string, a: number, b: number, shortSide = 64) {
  const rate = infos[name].video.frameRate;
  const startTicks = frameIndexToTicks(a, rate).toString();
  const endTicks = frameIndexToTicks(b, rate).toString();
  const frames = await extractFrames({ input: clip[name], info: infos[name], startTicks, endTicks, shortSide, workDir: work });
  return { frames, startTicks, endTicks, source: infos[name] };
}

async function decodedIndices(path: string): Promise<{ set: FrameSet; indices: number[] }> {
  const info = await probe(path);
  const set = await extractFrames({ input: path, info, startTicks: 0n, endTicks: BigInt(info.video.durationTicks), shortSide: 64, workDir: work });
  const indices: number[] = [];
  for (let i = 0; i < set.count; i++) indices.push(frameIndex(await readFrame(set, i), set.width, set.height));
  return { set, indices };
}

async function noPartialFiles(folder: string) {
  const names = await readdir(folder);
  assert.deepEqual(names.filter((n) => n.endsWith('.partial')), [], `partial files in ${folder}: ${names}`);
}

test('ProRes 422 HQ at the source size and exact 29.97 rate, same frames, bt709, video only', async () => {
  const { frames, startTicks, endTicks, source } = await framesOf('ntsc', 5, 20);
  const output = join(out, 'prores.mov');
  let sawProgressBeforeFile = false;
  const result = await encodeVideo({
    frames,
    source,
    startTicks,
    endTicks,
    output,
    codec: 'prores',
    withAudio: false,
    onProgress: () => {
      // Atomic output: while ffmpeg runs, nothing exists under the final name.
      if (!existsSync(output)) sawProgressBeforeFile = true;
    },
  });
  assert.ok(sawProgressBeforeFile);
  assert.deepEqual(result, { ...result, output, codec: 'prores', width: 64, height: 48, frameCount: 15, frameRate: { num: 30000, den: 1001 }, hasAudio: false });
  const { streams } = await ffprobeJson(output, 'stream=codec_type,codec_name,profile,pix_fmt,width,height,r_frame_rate,nb_frames,color_primaries,color_transfer,color_space');
  assert.equal(streams.length, 1, 'no audio stream');
  assert.deepEqual(streams[0], {
    codec_type: 'video',
    codec_name: 'prores',
    profile: 'HQ',
    width: 64,
    height: 48,
    pix_fmt: 'yuv422p10le',
    r_frame_rate: '30000/1001',
    nb_frames: '15',
    color_space: 'bt709',
    color_transfer: 'bt709',
    color_primaries: 'bt709',
  });
  // The rendered frames are the source frames of the range, in order.
  assert.deepEqual((await decodedIndices(output)).indices, Array.from({ length: 15 }, (_, i) => 5 + i));
  await noPartialFiles(out);
});

test('H.264 in MP4 with the range audio (AAC), limited-range bt709', async () => {
  const { frames, startTicks, endTicks, source } = await framesOf('ntsc', 3, 33);
  const output = join(out, 'h264.mp4');
  const result = await encodeVideo({ frames, source, startTicks, endTicks, output, codec: 'h264', withAudio: true });
  assert.equal(result.hasAudio, true);
  const { streams } = await ffprobeJson(
    output,
    'stream=codec_type,codec_name,profile,pix_fmt,r_frame_rate,nb_frames,color_range,color_primaries,color_transfer,color_space,channels,sample_rate,duration',
  );
  const video = streams.find((s: any) => s.codec_type === 'video');
  const audio = streams.find((s: any) => s.codec_type === 'audio');
  assert.deepEqual(
    [video.codec_name, video.profile, video.pix_fmt, video.r_frame_rate, video.nb_frames],
    ['h264', 'High', 'yuv420p', '30000/1001', '30'],
  );
  assert.deepEqual([video.color_range, video.color_primaries, video.color_transfer, video.color_space], ['tv', 'bt709', 'bt709', 'bt709']);
  assert.equal(audio.codec_name, 'aac');
  assert.equal(audio.channels, 2);
  assert.equal(audio.sample_rate, '48000');
  // 30 frames at 29.97 = 1.001 s of audio (AAC frames make it a little longer at most).
  assert.ok(Math.abs(Number(audio.duration) - 1.001) < 0.03, audio.duration);
  assert.deepEqual((await decodedIndices(output)).indices, Array.from({ length: 30 }, (_, i) => 3 + i));
});

test('audio with the range is sample-exact (PCM in .mov)', async () => {
  // Frames 10..29 at 25 fps = [0.4 s, 1.2 s): 38400 samples at 48 kHz, starting at t = 0.4 s.
  const { frames, startTicks, endTicks, source } = await framesOf('ramp', 10, 30);
  const output = join(out, 'ramp.mov');
  const result = await encodeVideo({ frames, source, startTicks, endTicks, output, codec: 'prores', withAudio: true });
  assert.equal(result.hasAudio, true);
  const { streams } = await ffprobeJson(output, 'stream=codec_type,codec_name,duration_ts');
  const audio = streams.find((s: any) => s.codec_type === 'audio');
  assert.equal(audio.codec_name, 'pcm_s16le');
  assert.equal(audio.duration_ts, 38400);
  const samples = await audioSamples(output);
  assert.equal(samples.length, 38400);
  const timeOf = (value: number) => (value / 32768) * 2;
  // One sample is 20.8 µs; the ramp's 16-bit steps are 61 µs, so allow 3 steps.
  assert.ok(Math.abs(timeOf(samples[0]) - 0.4) < 0.0002, `first sample is at ${timeOf(samples[0])} s`);
  assert.ok(Math.abs(timeOf(samples[samples.length - 1]) - (1.2 - 1 / 48000)) < 0.0002, `last sample at ${timeOf(samples.at(-1)!)} s`);
});

test('a range past the end of the source audio is padded with silence to the range length', async () => {
  // [1.0 s, 2.0 s) of a clip whose audio stops at 0.5 s: 48000 samples, all silent.
  const { frames, startTicks, endTicks, source } = await framesOf('shortAudio', 10, 20);
  const result = await encodeVideo({ frames, source, startTicks, endTicks, output: join(out, 'short_audio.mov'), codec: 'prores', withAudio: true });
  assert.equal(result.hasAudio, true);
  const samples = await audioSamples(result.output);
  assert.equal(samples.length, 48000);
  assert.ok(samples.every((v) => v === 0), 'silence past the source audio');
  // [0.4 s, 1.4 s): 0.1 s of the tone, then silence.
  const partly = await framesOf('shortAudio', 4, 14);
  const mixed = await encodeVideo({ ...partly, output: join(out, 'part_audio.mov'), codec: 'prores', withAudio: true });
  const tone = await audioSamples(mixed.output);
  assert.equal(tone.length, 48000);
  assert.ok(tone.slice(0, 4800).some((v) => Math.abs(v) > 1000), 'the tone is kept where the source has it');
  assert.ok(tone.slice(4900).every((v) => v === 0), 'silence after it');
});

test('asking for audio from a clip without audio gives a video-only file', async () => {
  const { frames, startTicks, endTicks } = await framesOf('rot90', 0, 3);
  const result = await encodeVideo({ frames, source: infos.rot90, startTicks, endTicks, output: join(out, 'silent.mov'), codec: 'prores', withAudio: true });
  assert.equal(result.hasAudio, false);
  const { streams } = await ffprobeJson(result.output, 'stream=codec_type');
  assert.deepEqual(streams.map((s: any) => s.codec_type), ['video']);
});

test('rotated source renders upright at the displayed size', async () => {
  const { frames, startTicks, endTicks } = await framesOf('rot90', 0, 3);
  const result = await encodeVideo({ frames, source: infos.rot90, startTicks, endTicks, output: join(out, 'upright.mov'), codec: 'prores', withAudio: false });
  assert.deepEqual([result.width, result.height], [64, 96]);
  const rendered = await probe(result.output);
  assert.equal(rendered.video.rotation, 0);
  const { set } = await decodedIndices(result.output);
  const f = await readFrame(set, 0);
  // Stored left half black, turned clockwise: the top half is black.
  assert.ok(meanRed(f, set.width, 0, 0, set.width, set.height / 2 - 4) < 25);
  assert.ok(meanRed(f, set.width, 0, set.height / 2 + 4, set.width, set.height) > 230);
});

test('odd source size: ProRes keeps it, H.264 rounds up to even', async () => {
  const { frames, startTicks, endTicks, source } = await framesOf('odd', 0, 4, 256);
  const prores = await encodeVideo({ frames, source, startTicks, endTicks, output: join(out, 'odd.mov'), codec: 'prores', withAudio: false });
  assert.deepEqual([prores.width, prores.height], [321, 241]);
  const h264 = await encodeVideo({ frames, source, startTicks, endTicks, output: join(out, 'odd.mp4'), codec: 'h264', withAudio: false });
  assert.deepEqual([h264.width, h264.height], [322, 242]);
  const v = (await probe(h264.output)).video;
  assert.deepEqual([v.width, v.height, v.frameCount], [322, 242, 4]);
});

test('frame rate override', async () => {
  const { frames, startTicks, endTicks, source } = await framesOf('ntsc', 0, 6);
  const result = await encodeVideo({ frames, source, startTicks, endTicks, output: join(out, 'rate.mov'), codec: 'prores', withAudio: false, frameRate: { num: 24000, den: 1001 } });
  const v = (await probe(result.output)).video;
  assert.deepEqual(v.frameRate, { num: 24000, den: 1001 });
  assert.equal(v.frameCount, 6);
});

async function rejectsCode(p: Promise<unknown>, code: string, message: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MediaError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('refusals: beside the source, wrong extension, frame count or size mismatch, missing folder', async () => {
  const { frames, startTicks, endTicks, source } = await framesOf('ntsc', 0, 6);
  const base: EncodeOptions = { frames, source, startTicks, endTicks, output: join(out, 'x.mov'), codec: 'prores', withAudio: false };
  const beside = join(dir, 'render.mov');
  await rejectsCode(encodeVideo({ ...base, output: beside }), 'invalid_argument', /next to the source media/);
  assert.equal(existsSync(beside), false);
  // The source under another name in the output folder (a symlink, a hard link): refused, the source untouched.
  const sourceBytes = await readFile(source.path);
  for (const [name, make] of [['symlink.mov', symlink], ['hardlink.mov', link]] as const) {
    const other = join(out, name);
    await make(source.path, other);
    await rejectsCode(encodeVideo({ ...base, output: other }), 'invalid_argument', /it is the source media .* \(the same file by another name\)/);
    await unlink(other);
  }
  assert.ok((await readFile(source.path)).equals(sourceBytes));
  await rejectsCode(encodeVideo({ ...base, output: join(out, 'x.mp4') }), 'invalid_argument', /must end in \.mov for prores/);
  await rejectsCode(encodeVideo({ ...base, output: join(out, 'x.avi'), codec: 'h264' }), 'invalid_argument', /\.mov or \.mp4/);
  await rejectsCode(encodeVideo({ ...base, output: join(dir, 'nowhere', 'x.mov') }), 'invalid_argument', /output folder .* does not exist/);
  const longer = frameIndexToTicks(7, source.video.frameRate).toString();
  await rejectsCode(encodeVideo({ ...base, endTicks: longer }), 'invalid_argument', /has 6 frames but the range holds 7 frames/);
  const wrongSize: RawFrames = { ...frames, width: frames.width + 8 };
  await rejectsCode(encodeVideo({ ...base, frames: wrongSize }), 'invalid_argument', /need \d+/);
  await rejectsCode(encodeVideo({ ...base, endTicks: startTicks }), 'range', /zero-length/);
  assert.deepEqual((await readdir(out)).filter((n) => n.startsWith('x.')), []);
  // A directory in the way of the final name: the finished temp file is removed too.
  const blocked = join(out, 'blocked.mov');
  await mkdir(blocked);
  await writeFile(join(blocked, 'keep'), '');
  await rejectsCode(encodeVideo({ ...base, output: blocked }), 'invalid_argument', /cannot put the render in place at ".*blocked\.mov"/);
  await noPartialFiles(out);
});

/** 50 frames of noise at 640x360 (ProRes cannot compress them: ~10 MB of output), made once. */
let noise: Promise<RawFrames> | undefined;
function noiseFrames(): Promise<RawFrames> {
  noise ??= (async () => {
    const writer = await FrameWriter.create(join(work, 'noise.rgb'), 640, 360);
    const frame = new Uint8Array(640 * 360 * 3);
    for (let i = 0; i < 50; i++) await writer.write(randomFillSync(frame));
    return writer.close();
  })();
  return noise;
}

const busyRange = { startTicks: '0', endTicks: String(50n * 10160640000n) };

test('disk full (a 1 MiB tmpfs): clear error, no partial render visible', async (t) => {
  const folder = join(dir, 'tiny');
  await mkdir(folder);
  try {
    await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', folder]);
  } catch (err) {
    return t.skip(`cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]}); the file-size-limit test below covers the clean-up`);
  }
  try {
    const frames = await noiseFrames();
    const output = join(folder, 'full.mov');
    await rejectsCode(encodeVideo({ frames, source: infos.busy, ...busyRange, output, codec: 'prores', withAudio: false }), 'disk_full', /No space left on device|no space left/);
    assert.deepEqual(await readdir(folder), []);
  } finally {
    await promisify(execFile)('umount', [folder]);
  }
});

test('a write that fails mid-file (file size limit) leaves no partial render', async () => {
  // Test double: the real ffmpeg under `ulimit -f` (512-byte blocks), killed by SIGXFSZ mid-write.
  const limited = join(dir, 'ffmpeg-limited');
  await writeFile(limited, `#!/bin/sh\nulimit -f 400\nexec "${resolveBinaries().ffmpeg}" "$@"\n`, { mode: 0o755 });
  const frames = await noiseFrames();
  const folder = join(dir, 'limited-out');
  await mkdir(folder);
  const saved = process.env.TOKENFLOW_FFMPEG;
  process.env.TOKENFLOW_FFMPEG = limited;
  try {
    await rejectsCode(
      encodeVideo({ frames, source: infos.busy, ...busyRange, output: join(folder, 'big.mov'), codec: 'prores', withAudio: false }),
      'disk_full',
      /SIGXFSZ|File too large/,
    );
  } finally {
    if (saved === undefined) delete process.env.TOKENFLOW_FFMPEG;
    else process.env.TOKENFLOW_FFMPEG = saved;
  }
  assert.deepEqual(await readdir(folder), []);
});

test('abort during encoding removes the temp file', async () => {
  const frames = await noiseFrames();
  const folder = join(dir, 'abort-out');
  await mkdir(folder);
  const controller = new AbortController();
  const run = encodeVideo({ frames, source: infos.busy, ...busyRange, output: join(folder, 'a.mov'), codec: 'prores', withAudio: false, signal: controller.signal });
  setTimeout(() => controller.abort(), 300);
  await rejectsCode(run, 'aborted', /was aborted/);
  assert.deepEqual(await readdir(folder), []);
});

test('FrameWriter refuses frames of the wrong size', async () => {
  const writer = await FrameWriter.create(join(work, 'w.rgb'), 8, 8);
  await rejectsCode(writer.write(new Uint8Array(10)), 'invalid_argument', /has 10 bytes, expected 192/);
  await writer.write(new Uint8Array(192));
  assert.deepEqual(await writer.close(), { path: join(work, 'w.rgb'), width: 8, height: 8, count: 1 });
  await rejectsCode(writer.write(new Uint8Array(192)), 'invalid_argument', /already closed/);
});
