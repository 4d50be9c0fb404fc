import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MediaError, probe } from '../../companion/media/index.ts';
import { reduce } from '../../companion/media/rational.ts';
import { FFV1, H264, ffmpeg, makeClip, setRotation, tempDir, truncateTo } from './clips.ts';

let dir: string;
let cleanup: () => Promise<void>;
const clip: Record<string, string> = {};

before(async () => {
  ({ dir, cleanup } = await tempDir('probe'));
  const at = (name: string) => join(dir, name);
  await Promise.all([
    makeClip((clip.cfr25 = at('cfr25.mp4')), { width: 64, height: 48, rate: '25', frames: 40 }),
    makeClip((clip.ntsc = at('ntsc.mp4')), {
      width: 64,
      height: 48,
      rate: '30000/1001',
      frames: 45,
      extra: ['-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-color_range', 'tv'],
      audio: { expr: 'sin(2*PI*440*t)|sin(2*PI*660*t)', rate: 48000, codec: ['-c:a', 'aac'] },
    }),
    // Matroska stores milliseconds: 23.976 fps frame gaps are 41 or 42 units, still constant rate.
    makeClip((clip.film = at('film.mkv')), { width: 64, height: 48, rate: '24000/1001', frames: 50 }),
    // Variable rate: frame n at (n + floor(n/2)) / 30 s, i.e. gaps alternate 1/30 and 2/30 s.
    makeClip((clip.vfr = at('vfr.mkv')), {
      width: 64,
      height: 48,
      rate: '30',
      frames: 40,
      filters: ['setpts=(N+floor(N/2))/30/TB'],
      extra: ['-vsync', '0'],
    }),
    makeClip((clip.odd = at('odd.mkv')), { width: 321, height: 241, rate: '25', frames: 5, codec: FFV1 }),
    // More frames than probe reads from the start: exercises the header count + tail scan.
    makeClip((clip.long = at('long.mp4')), { width: 64, height: 48, rate: '60', frames: 1500, extra: ['-g', '60'] }),
    makeClip((clip.timecode = at('timecode.mov')), { width: 64, height: 48, rate: '25', frames: 5, extra: ['-timecode', '01:00:00:00'] }),
    makeClip((clip.rotated = at('rotated.mp4')), { width: 96, height: 64, rate: '25', frames: 5 }),
    ffmpeg(['-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', (clip.audioOnly = at('audio.m4a'))]),
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=64x48', '-frames:v', '1', (clip.still = at('still.png'))]),
    // Noisy pictures (testsrc2, nearly lossless), so that the files are large enough to cut.
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=25', '-frames:v', '25', ...H264, '-movflags', '+faststart', (clip.big = at('big.mp4'))]),
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=25', '-frames:v', '25', ...H264, (clip.moovAtEnd = at('moov-at-end.mp4'))]),
  ]);
  await setRotation(clip.rotated, 90);
  await copyFile(clip.rotated, (clip.rotated270 = at('rotated270.mp4')));
  await setRotation(clip.rotated270, 270);
  await writeFile((clip.text = at('notes.txt')), 'this is not a video\n'.repeat(20));
  await writeFile((clip.empty = at('empty.mp4')), '');
  await mkdir((clip.folder = at('folder.mp4')));
  await truncateTo(clip.big, (clip.truncated = at('truncated.mp4')), 30_000);
  await truncateTo(clip.moovAtEnd, (clip.noMoov = at('no-moov.mp4')), 30_000);
});

after(() => cleanup());

async function rejectsWith(path: string, code: string, message: RegExp) {
  await assert.rejects(probe(path), (err: unknown) => {
    assert.ok(err instanceof MediaError, `expected MediaError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    assert.ok(err.message.includes(resolve(path)), `message names the file: ${err.message}`);
    return true;
  });
}

test('constant 25 fps H.264', async () => {
  const info = await probe(clip.cfr25);
  assert.equal(info.path, clip.cfr25);
  assert.match(info.container, /mp4/);
  const v = info.video;
  assert.equal(v.codec, 'h264');
  assert.deepEqual([v.width, v.height, v.displayWidth, v.displayHeight], [64, 48, 64, 48]);
  assert.deepEqual(v.frameRate, { num: 25, den: 1 });
  assert.equal(v.variableFrameRate, false);
  assert.equal(v.frameCount, 40);
  assert.equal(v.frameCountSource, 'packets');
  assert.equal(v.durationTicks, String(40n * 10160640000n));
  assert.equal(v.durationSeconds, 1.6);
  assert.equal(v.rotation, 0);
  assert.equal(v.pixelFormat, 'yuv420p');
  assert.deepEqual(v.color, { primaries: null, transfer: null, matrix: null, range: null });
  assert.deepEqual(info.audio, []);
});

test('29.97 fps: exact rational rate and duration, colour tags, stereo audio', async () => {
  const info = await probe(clip.ntsc);
  const v = info.video;
  assert.deepEqual(v.frameRate, { num: 30000, den: 1001 });
  assert.deepEqual(v.rFrameRate, { num: 30000, den: 1001 });
  assert.deepEqual(v.avgFrameRate, { num: 30000, den: 1001 });
  assert.equal(v.frameCount, 45);
  // 45 frames x 8475667200 ticks: exact, no float seconds involved.
  assert.equal(v.durationTicks, '381405024000');
  assert.deepEqual(v.color, { primaries: 'bt709', transfer: 'bt709', matrix: 'bt709', range: 'tv' });
  assert.equal(info.audio.length, 1);
  assert.equal(info.audio[0].codec, 'aac');
  assert.equal(info.audio[0].channels, 2);
  assert.equal(info.audio[0].sampleRate, 48000);
  assert.equal(info.audio[0].index, 1);
});

test('23.976 fps in Matroska (millisecond timestamps) is constant rate, counted from packets', async () => {
  const v = (await probe(clip.film)).video;
  assert.deepEqual(v.frameRate, { num: 24000, den: 1001 });
  assert.equal(v.variableFrameRate, false);
  assert.deepEqual(v.timeBase, { num: 1, den: 1000 });
  assert.equal(v.frameCount, 50);
  assert.equal(v.frameCountSource, 'packets');
});

test('variable frame rate is detected from the timestamps', async () => {
  const v = (await probe(clip.vfr)).video;
  assert.equal(v.variableFrameRate, true);
  assert.equal(v.frameCount, 40);
  // Last frame at (39 + 19)/30 s plus its duration: about 20 fps on average, whatever the
  // container's nominal rate says.
  const durationUnits = (BigInt(v.durationTicks) * 1000n) / 254016000000n;
  assert.deepEqual(v.frameRate, reduce({ num: 40 * 1000, den: Number(durationUnits) }));
  assert.ok(v.frameRate.num / v.frameRate.den > 19.5 && v.frameRate.num / v.frameRate.den < 20.5, `${v.frameRate.num}/${v.frameRate.den}`);
});

test('odd size', async () => {
  const v = (await probe(clip.odd)).video;
  assert.deepEqual([v.width, v.height, v.displayWidth, v.displayHeight], [321, 241, 321, 241]);
  assert.equal(v.codec, 'ffv1');
});

test('long MP4: frame count from the header, end from the last packets', async () => {
  const v = (await probe(clip.long)).video;
  assert.equal(v.frameCountSource, 'header');
  assert.equal(v.frameCount, 1500);
  assert.equal(v.durationTicks, String(1500n * 4233600000n));
  assert.deepEqual(v.frameRate, { num: 60, den: 1 });
});

test('rotation from the display matrix: 90 and 270 swap the displayed sides', async () => {
  const v90 = (await probe(clip.rotated)).video;
  assert.equal(v90.rotation, 90);
  assert.deepEqual([v90.width, v90.height, v90.displayWidth, v90.displayHeight], [96, 64, 64, 96]);
  const v270 = (await probe(clip.rotated270)).video;
  assert.equal(v270.rotation, 270);
  assert.deepEqual([v270.displayWidth, v270.displayHeight], [64, 96]);
});

test('timecode tag', async () => {
  assert.equal((await probe(clip.timecode)).video.timecode, '01:00:00:00');
});

test('missing file', () => rejectsWith(join(dir, 'nope.mp4'), 'not_found', /does not exist/));
test('directory', () => rejectsWith(clip.folder, 'not_a_file', /is a directory/));
test('text file', () => rejectsWith(clip.text, 'not_video', /is not a video file/));
test('audio-only file', () => rejectsWith(clip.audioOnly, 'not_video', /no video stream: audio only \(aac/));
test('still image', () => rejectsWith(clip.still, 'not_video', /still image/));
test('empty file', () => rejectsWith(clip.empty, 'corrupt', /is empty/));
test('truncated MP4 (index at the start, data cut off)', () => rejectsWith(clip.truncated, 'corrupt', /truncated|damaged/));
test('truncated MP4 (index at the end, so missing)', () => rejectsWith(clip.noMoov, 'corrupt', /moov atom not found/));

test('a name that looks like a protocol or an option is just a local file', async () => {
  // ffmpeg would read 'concat:a|b' as a protocol and '-i' as an option; we pass file: URLs.
  const odd = join(dir, 'concat:x|-y $(touch pwned).mp4');
  await copyFile(clip.cfr25, odd);
  const info = await probe(odd);
  assert.equal(info.video.frameCount, 40);
  await rejectsWith(join(dir, 'http:'), 'not_found', /does not exist/);
});

test('unreadable file (permission)', async (t) => {
  const locked = join(dir, 'locked.mp4');
  await copyFile(clip.cfr25, locked);
  await chmod(locked, 0o000);
  if (process.getuid?.() !== 0) {
    await rejectsWith(locked, 'permission', /permission denied/);
    return;
  }
  if (process.platform === 'win32') return t.skip('no POSIX permissions');
  // Root reads anything, so run the probe as the unprivileged user 'nobody' (uid 65534).
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const script = join(dir, 'probe-as-nobody.mts');
  await writeFile(
    script,
    `import { probe } from ${JSON.stringify(join(root, 'companion/media/index.ts'))};\n` +
      `try { await probe(${JSON.stringify(locked)}); console.log('OPENED'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }\n`,
  );
  const out = await new Promise<string>((ok, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, uid: 65534, gid: 65534, env: { ...process.env, HOME: dir } });
    let text = '';
    child.stdout.on('data', (c) => (text += c));
    child.stderr.on('data', (c) => (text += c));
    child.on('error', fail);
    child.on('close', () => ok(text));
  });
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}');
  assert.equal(result.code, 'permission', out);
  assert.match(result.message, /cannot be read: permission denied/);
  assert.ok(result.message.includes(locked));
});

test('AbortSignal: an aborted probe rejects with AbortError', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(probe(clip.cfr25, { signal: controller.signal }), (err: unknown) => {
    assert.ok(err instanceof MediaError);
    assert.equal(err.code, 'aborted');
    assert.equal(err.name, 'AbortError');
    return true;
  });
});
