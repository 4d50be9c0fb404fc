import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveBinaries } from '../../companion/media/binaries.ts';
import { checkMedia, describeCapabilities } from '../../companion/media/capabilities.ts';
import { classifyStderr, runFfmpeg, spawnFailureAdvice, stderrLines } from '../../companion/media/ffmpeg.ts';
import { MediaError, probe } from '../../companion/media/index.ts';
import { makeClip, tempDir } from './clips.ts';

let dir: string;
let cleanup: () => Promise<void>;

before(async () => {
  ({ dir, cleanup } = await tempDir('ffmpeg'));
});
after(() => cleanup());

/** Runs `fn` with environment variables set, restoring them afterwards. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('bundled binaries are found and runnable; env variables override them', async () => {
  const saved = { ffmpeg: process.env.TOKENFLOW_FFMPEG, ffprobe: process.env.TOKENFLOW_FFPROBE };
  delete process.env.TOKENFLOW_FFMPEG;
  delete process.env.TOKENFLOW_FFPROBE;
  try {
    const b = resolveBinaries();
    assert.equal(b.ffmpegSource, 'bundled');
    assert.equal(b.ffprobeSource, 'bundled');
    assert.match(b.ffmpeg, /@ffmpeg-installer/);
    assert.match(b.ffprobe, /@ffprobe-installer/);
    assert.ok(existsSync(b.ffmpeg) && existsSync(b.ffprobe));
    const o = resolveBinaries({ TOKENFLOW_FFMPEG: '/opt/ff/ffmpeg', TOKENFLOW_FFPROBE: '/opt/ff/ffprobe' });
    assert.deepEqual(o, { ffmpeg: '/opt/ff/ffmpeg', ffprobe: '/opt/ff/ffprobe', ffmpegSource: 'env', ffprobeSource: 'env' });
  } finally {
    if (saved.ffmpeg !== undefined) process.env.TOKENFLOW_FFMPEG = saved.ffmpeg;
    if (saved.ffprobe !== undefined) process.env.TOKENFLOW_FFPROBE = saved.ffprobe;
  }
});

test('checkMedia reports versions and the encoders we need', async () => {
  const caps = await checkMedia();
  assert.notEqual(caps.ffmpegVersion, 'unknown');
  assert.notEqual(caps.ffprobeVersion, 'unknown');
  assert.deepEqual(caps.encoders, { prores_ks: true, libx264: true, aac: true, pcm_s16le: true, pcm_s24le: true });
  assert.deepEqual(caps.codecs, ['prores', 'h264']);
  assert.deepEqual(caps.warnings, []);
  assert.ok(caps.fpsModeOption === '-vsync' || caps.fpsModeOption === '-fps_mode');
  const line = describeCapabilities(caps);
  assert.ok(line.includes(caps.ffmpegVersion) && line.includes('output codecs: prores, h264'), line);
  assert.equal(await checkMedia(), caps, 'cached');
});

test('an ffmpeg without libx264 offers ProRes only, with a warning', async () => {
  // A wrapper (test double) around the real ffmpeg whose encoder list lacks libx264.
  const fake = join(dir, 'ffmpeg-no-x264');
  await writeFile(
    fake,
    `#!/bin/sh\nif [ "$2" = "-encoders" ]; then "${resolveBinaries().ffmpeg}" "$@" | grep -v libx264; exit 0; fi\nexec "${resolveBinaries().ffmpeg}" "$@"\n`,
    { mode: 0o755 },
  );
  const caps = await withEnv({ TOKENFLOW_FFMPEG: fake }, () => checkMedia());
  assert.equal(caps.ffmpeg, fake);
  assert.equal(caps.encoders.libx264, false);
  assert.deepEqual(caps.codecs, ['prores']);
  assert.match(caps.warnings.join('\n'), /no libx264 encoder: H.264 output is unavailable/);
});

test('a missing binary is a clear error naming the path and the variable', async () => {
  await withEnv({ TOKENFLOW_FFMPEG: join(dir, 'no-such-ffmpeg') }, async () => {
    await assert.rejects(runFfmpeg(['-version'], { what: 'testing' }), (err: unknown) => {
      assert.ok(err instanceof MediaError);
      assert.equal(err.code, 'binary');
      assert.match(err.message, /no-such-ffmpeg/);
      assert.match(err.message, /TOKENFLOW_FFMPEG/);
      return true;
    });
    await assert.rejects(checkMedia(), { code: 'binary' });
  });
});

test('a crashing ffprobe is reported as a broken binary, not as bad media', async () => {
  // Test double: an ffprobe that dies of SIGSEGV, as some static builds do on MPEG-TS input.
  const crashing = join(dir, 'ffprobe-crash');
  await writeFile(crashing, '#!/bin/sh\nkill -SEGV $$\n', { mode: 0o755 });
  const clipPath = await makeClip(join(dir, 'crash-input.mp4'), { width: 64, height: 48, rate: '25', frames: 2 });
  await withEnv({ TOKENFLOW_FFPROBE: crashing }, async () => {
    await assert.rejects(probe(clipPath), (err: unknown) => {
      assert.ok(err instanceof MediaError);
      assert.equal(err.code, 'binary');
      assert.match(err.message, /^ffprobe crashed \(SIGSEGV\) while probing ".*crash-input\.mp4"; this ffprobe build \(.*ffprobe-crash\) cannot read it: set TOKENFLOW_FFPROBE/);
      return true;
    });
  });
});

test('-progress pipe:1 blocks reach onProgress', async () => {
  const blocks: Array<Record<string, string>> = [];
  await runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=64x48:r=25', '-frames:v', '30', '-f', 'null', '-progress', 'pipe:1', '-nostats', '-'], {
    what: 'testing progress',
    onProgress: (f) => blocks.push(f),
  });
  assert.ok(blocks.length >= 1);
  const last = blocks[blocks.length - 1];
  assert.equal(last.progress, 'end');
  assert.equal(last.frame, '30');
});

test('a failing run rejects with the stderr tail in the message', async () => {
  await assert.rejects(
    runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2', '-vf', 'nosuchfilter', '-f', 'null', '-'], { what: 'testing errors', file: '/x/clip.mov' }),
    (err: unknown) => {
      assert.ok(err instanceof MediaError);
      assert.equal(err.code, 'ffmpeg');
      assert.match(err.message, /^ffmpeg failed \(exit \d+\) while testing errors "\/x\/clip.mov": .*nosuchfilter/);
      return true;
    },
  );
});

test('AbortSignal kills the running process and rejects with AbortError', { timeout: 60_000 }, async () => {
  // testsrc2 without a duration never ends on its own, and the run settles only once its process
  // has exited: only the kill can settle it (the timeout is a hang guard).
  const controller = new AbortController();
  const run = runFfmpeg(['-re', '-f', 'lavfi', '-i', 'testsrc2=s=64x48:r=25', '-f', 'null', '-'], { what: 'an endless run', signal: controller.signal });
  setTimeout(() => controller.abort(new Error('user cancelled')), 200);
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof MediaError);
    assert.equal(err.name, 'AbortError');
    assert.equal(err.code, 'aborted');
    assert.match(err.message, /an endless run was aborted: user cancelled/);
    return true;
  });
});

test('classifyStderr maps ffmpeg messages to codes', () => {
  assert.equal(classifyStderr('av_interleaved_write_frame(): No space left on device'), 'disk_full');
  assert.equal(classifyStderr('file:/a.mov: Permission denied'), 'permission');
  assert.equal(classifyStderr('Unknown encoder \'libx264\''), 'encoder');
  assert.equal(classifyStderr('[mov,mp4] moov atom not found'), 'corrupt');
  assert.equal(classifyStderr('something else'), 'ffmpeg');
  assert.deepEqual(stderrLines('[h264 @ 0x55d0c1a2] bad thing\n\n  other  \n'), ['bad thing', 'other']);
});

test('protocol whitelist: a playlist pointing at the network is not followed', async () => {
  let requests = 0;
  const server: Server = createServer((_req, res) => {
    requests++;
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const port = (server.address() as { port: number }).port;
    const playlist = join(dir, 'evil.m3u8');
    await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nhttp://127.0.0.1:${port}/leak.ts\n#EXT-X-ENDLIST\n`);
    // Control: with http on the whitelist, ffprobe does fetch the segment, so this test can tell
    // the difference. (Recent ffmpeg builds also refuse by default for local playlists; the
    // explicit whitelist makes that hold for every version and every nested protocol.)
    await promisify(execFile)(resolveBinaries().ffprobe, ['-v', 'error', '-protocol_whitelist', 'file,http,tcp', playlist]).catch(() => undefined);
    assert.ok(requests > 0, 'ffprobe follows the playlist when http is allowed');
    requests = 0;
    await assert.rejects(probe(playlist), MediaError);
    assert.equal(requests, 0, 'our probe made a network request');
  } finally {
    server.close();
  }
});

test('the clip helper encodes frame indices that probe sees as frames', async () => {
  const path = await makeClip(join(dir, 'helper.mp4'), { width: 64, height: 48, rate: '25', frames: 12 });
  assert.equal((await probe(path)).video.frameCount, 12);
});

test('a binary macOS cannot start for its CPU gets the Rosetta advice; other start failures the path advice', () => {
  const badArch = Object.assign(new Error('spawn Unknown system error -86'), { errno: -86 });
  assert.match(spawnFailureAdvice(badArch, 'darwin'), /^it is an Intel \(x86-64\) build: install Rosetta 2 with `softwareupdate --install-rosetta --agree-to-license`/);
  assert.equal(spawnFailureAdvice(badArch, 'linux'), 'check the path, or set TOKENFLOW_FFMPEG / TOKENFLOW_FFPROBE');
  const missing = Object.assign(new Error('spawn /nope ENOENT'), { errno: -2, code: 'ENOENT' });
  assert.equal(spawnFailureAdvice(missing, 'darwin'), 'check the path, or set TOKENFLOW_FFMPEG / TOKENFLOW_FFPROBE');
});
