import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaError, extractFrames, probe, readFrame, type FrameSet, type MediaInfo } from '../../companion/media/index.ts';
import { TICKS_PER_SECOND, frameIndexToTicks, ticksFromSeconds } from '../../shared/ticks.ts';
import { FFV1, H264, ffmpeg, frameIndex, makeClip, meanRed, setRotation, tempDir } from './clips.ts';

let dir: string;
let work: string;
let cleanup: () => Promise<void>;
const clip: Record<string, string> = {};
const infos: Record<string, MediaInfo> = {};

before(async () => {
  ({ dir, cleanup } = await tempDir('extract'));
  work = join(dir, 'work');
  await mkdir(work);
  const at = (name: string) => join(dir, name);
  const small = { width: 64, height: 48 };
  const halfBlack = ['-f', 'lavfi', '-i', "nullsrc=s=96x64:r=25,format=yuv420p,geq=lum='if(lt(X,W/2),16,235)':cb=128:cr=128", '-frames:v', '3', ...H264];
  await Promise.all([
    makeClip((clip.cfr25 = at('cfr25.mp4')), { ...small, rate: '25', frames: 40 }),
    makeClip((clip.ntscMp4 = at('ntsc.mp4')), { ...small, rate: '30000/1001', frames: 45 }),
    makeClip((clip.ntscMkv = at('ntsc.mkv')), { ...small, rate: '30000/1001', frames: 45 }),
    makeClip((clip.filmMkv = at('film.mkv')), { ...small, rate: '24000/1001', frames: 50 }),
    // Frame n at (n + floor(n/2)) / 30 s: gaps alternate 1/30 and 2/30 s.
    makeClip((clip.vfr = at('vfr.mkv')), { ...small, rate: '30', frames: 40, filters: ['setpts=(N+floor(N/2))/30/TB'], extra: ['-vsync', '0'] }),
    // Long GOP (key frame every 50) with B-frames: ranges far from a key frame need exact seeking.
    makeClip((clip.gop = at('gop.mp4')), { ...small, rate: '25', frames: 300, extra: ['-g', '50'] }),
    makeClip((clip.odd = at('odd.mkv')), { width: 321, height: 241, rate: '25', frames: 4, codec: FFV1 }),
    // AVI stores no presentation times; MPEG-4 part 2 with B-frames makes decode order differ.
    makeClip((clip.avi = at('bframes.avi')), { ...small, rate: '30000/1001', frames: 60, codec: ['-c:v', 'mpeg4', '-q:v', '2', '-bf', '2'] }),
    ffmpeg([...halfBlack, (clip.rot0 = at('rot0.mp4'))]),
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=25', '-frames:v', '250', '-c:v', 'libx264', '-preset', 'ultrafast', (clip.busy = at('busy.mp4'))]),
  ]);
  for (const r of [90, 180, 270] as const) {
    await copyFile(clip.rot0, (clip[`rot${r}`] = at(`rot${r}.mp4`)));
    await setRotation(clip[`rot${r}`], r);
  }
  for (const [name, path] of Object.entries(clip)) infos[name] = await probe(path);
});

after(() => cleanup());

async function indices(set: FrameSet): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < set.count; i++) out.push(frameIndex(await readFrame(set, i), set.width, set.height));
  return out;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/** Extracts source frames [a, b) of a constant-rate clip, giving the range as exact ticks. */
function extractIndexRange(name: string, a: number, b: number, shortSide = 64) {
  const rate = infos[name].video.frameRate;
  return extractFrames({
    input: clip[name],
    info: infos[name],
    startTicks: frameIndexToTicks(a, rate).toString(),
    endTicks: frameIndexToTicks(b, rate).toString(),
    shortSide,
    workDir: work,
  });
}

test('25 fps: exactly the frames of the range, with their timing', async () => {
  const progress: number[] = [];
  const set = await extractFrames({
    input: clip.cfr25,
    startTicks: String(7n * 10160640000n),
    endTicks: String(19n * 10160640000n),
    shortSide: 64,
    workDir: work,
    onProgress: (p) => {
      assert.equal(p.total, 12);
      progress.push(p.done);
    },
  });
  assert.deepEqual(await indices(set), range(7, 19));
  assert.equal(set.count, 12);
  assert.deepEqual([set.width, set.height], [88, 64]);
  assert.equal((await stat(set.path)).size, 12 * 88 * 64 * 3);
  assert.ok(set.path.startsWith(work));
  assert.equal(set.firstFrameIndex, 7);
  assert.deepEqual(set.frameRate, { num: 25, den: 1 });
  assert.deepEqual(set.ptsTicks, range(7, 19).map((i) => String(BigInt(i) * 10160640000n)));
  assert.equal(set.pts.length, 12);
  assert.equal(set.startTicks, String(7n * 10160640000n));
  assert.equal(set.source, clip.cfr25);
  assert.equal(progress.at(-1), 12);
});

test('29.97 fps (MP4, 1/30000 time base): frame-exact', async () => {
  const set = await extractIndexRange('ntscMp4', 10, 25);
  assert.deepEqual(await indices(set), range(10, 25));
  assert.equal(set.firstFrameIndex, 10);
  assert.deepEqual(set.frameRate, { num: 30000, den: 1001 });
});

test('29.97 fps in Matroska (timestamps rounded to ms): still frame-exact', async () => {
  // Frame 10 is at 333.667 ms but stored as 334; frame 25 at 834.167 stored as 834.
  const set = await extractIndexRange('ntscMkv', 10, 25);
  assert.deepEqual(await indices(set), range(10, 25));
  assert.equal(set.pts[0], 334);
});

test('23.976 fps in Matroska: frame-exact', async () => {
  const set = await extractIndexRange('filmMkv', 13, 29);
  assert.deepEqual(await indices(set), range(13, 29));
  assert.equal(set.firstFrameIndex, 13);
});

test('variable frame rate: frames chosen by their own timestamps', async () => {
  // Frames at (n + floor(n/2))/30 s: [0.51 s, 1.21 s) holds n = 11 (0.5333 s) ... 24 (1.2 s).
  const set = await extractFrames({ input: clip.vfr, startTicks: ticksFromSeconds('0.51'), endTicks: ticksFromSeconds('1.21'), shortSide: 64, workDir: work });
  assert.deepEqual(await indices(set), range(11, 25));
  assert.equal(set.firstFrameIndex, 11);
  assert.deepEqual(set.pts, range(11, 25).map((n) => Math.round(((n + Math.floor(n / 2)) * 1000) / 30)));
  // Seconds x average rate would have started at frame round(0.51 * 20) = 10: not what is shown at 0.51 s.
  assert.notEqual(Math.round(0.51 * (infos.vfr.video.frameRate.num / infos.vfr.video.frameRate.den)), 11);
});

test('long GOP with B-frames: ranges far from a key frame, and up to the very end', async () => {
  const middle = await extractIndexRange('gop', 205, 215);
  assert.deepEqual(await indices(middle), range(205, 215).map((i) => i % 256));
  assert.equal(middle.firstFrameIndex, 205);
  const end = await extractIndexRange('gop', 290, 300);
  assert.deepEqual(await indices(end), range(290, 300).map((i) => i % 256));
  const single = await extractIndexRange('gop', 149, 150);
  assert.deepEqual(await indices(single), [149]);
});

test('AVI (no presentation timestamps, B-frames): frames by their position', async () => {
  assert.equal(infos.avi.video.timestampSource, 'dts');
  assert.equal(infos.cfr25.video.timestampSource, 'pts');
  const set = await extractIndexRange('avi', 20, 30);
  assert.deepEqual(await indices(set), range(20, 30));
  assert.equal(set.firstFrameIndex, 20);
});

test('rotation is applied: the picture comes out upright at the displayed size', async () => {
  // Stored picture: left half black. Turned 90° clockwise the black half is on top.
  const expectations = {
    rot0: { size: [96, 64], dark: 'left' },
    rot90: { size: [64, 96], dark: 'top' },
    rot180: { size: [96, 64], dark: 'right' },
    rot270: { size: [64, 96], dark: 'bottom' },
  } as const;
  for (const [name, want] of Object.entries(expectations)) {
    const set = await extractIndexRange(name, 0, 2);
    assert.deepEqual([set.width, set.height], want.size, name);
    const f = await readFrame(set, 1);
    const { width: w, height: h } = set;
    const halves = {
      left: meanRed(f, w, 0, 0, w / 2 - 2, h),
      right: meanRed(f, w, w / 2 + 2, 0, w, h),
      top: meanRed(f, w, 0, 0, w, h / 2 - 2),
      bottom: meanRed(f, w, 0, h / 2 + 2, w, h),
    };
    assert.ok(halves[want.dark] < 20, `${name}: ${want.dark} half should be black: ${JSON.stringify(halves)}`);
    const opposite = { left: 'right', right: 'left', top: 'bottom', bottom: 'top' } as const;
    assert.ok(halves[opposite[want.dark]] > 235, `${name}: ${JSON.stringify(halves)}`);
  }
});

test('odd source size: processing size by the rule (321x241 -> 680x512)', async () => {
  const set = await extractIndexRange('odd', 1, 3, 512);
  assert.deepEqual([set.width, set.height, set.count], [680, 512, 2]);
  assert.deepEqual(await indices(set), [1, 2]);
});

async function rejectsCode(p: Promise<unknown>, code: string, message: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MediaError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('range errors', async () => {
  const base = { input: clip.cfr25, info: infos.cfr25, workDir: work, shortSide: 64 };
  const frame = 10160640000n;
  await rejectsCode(extractFrames({ ...base, startTicks: frame * 5n, endTicks: frame * 5n }), 'range', /zero-length/);
  await rejectsCode(extractFrames({ ...base, startTicks: frame * 6n, endTicks: frame * 5n }), 'range', /starts at .* after its end/);
  // 40 frames: ending at frame 40 is the whole clip; frame 41 is beyond it.
  await rejectsCode(extractFrames({ ...base, startTicks: 0n, endTicks: frame * 41n }), 'range', /beyond the end of the clip/);
  await rejectsCode(extractFrames({ ...base, startTicks: '-5', endTicks: '100' }), 'range', /startTicks must be a whole number/);
  await rejectsCode(extractFrames({ ...base, startTicks: '1.5', endTicks: '100' }), 'range', /startTicks/);
  // Between two frames of the variable-rate clip (0.1333 s and 0.2 s): no frame starts there.
  await rejectsCode(
    extractFrames({ ...base, input: clip.vfr, info: infos.vfr, startTicks: ticksFromSeconds('0.14'), endTicks: ticksFromSeconds('0.19') }),
    'range',
    /holds no frame/,
  );
  const whole = await extractFrames({ ...base, startTicks: 0n, endTicks: frame * 40n });
  assert.equal(whole.count, 40);
  assert.equal(infos.cfr25.video.durationTicks, String(40n * frame));
});

test('argument and media errors', async () => {
  const ok = { input: clip.cfr25, startTicks: 0n, endTicks: TICKS_PER_SECOND / 5n, workDir: work };
  await rejectsCode(extractFrames({ ...ok, shortSide: 500 }), 'invalid_argument', /multiple of 8/);
  await rejectsCode(extractFrames({ ...ok, workDir: join(dir, 'missing') }), 'invalid_argument', /work directory .* does not exist/);
  await rejectsCode(extractFrames({ ...ok, input: join(dir, 'gone.mp4') }), 'not_found', /gone\.mp4" does not exist/);
  const set = await extractFrames({ ...ok, shortSide: 64 });
  await rejectsCode(readFrame(set, set.count), 'invalid_argument', /outside 0\.\.4/);
  await rejectsCode(readFrame(set, -1), 'invalid_argument', /outside/);
});

test('abort mid-extraction leaves no frame file behind', async () => {
  const scratch = join(dir, 'abort-work');
  await mkdir(scratch);
  const controller = new AbortController();
  const run = extractFrames({
    input: clip.busy,
    info: infos.busy,
    startTicks: 0n,
    endTicks: TICKS_PER_SECOND * 10n,
    workDir: scratch,
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(), 150);
  await rejectsCode(run, 'aborted', /was aborted/);
  assert.deepEqual(await readdir(scratch), []);
});
