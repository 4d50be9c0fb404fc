import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeClip, tempDir } from '../media/clips.ts';

const bin = fileURLToPath(new URL('../../bin/tokenflow.mjs', import.meta.url));
let dir: string;
let cleanup: () => Promise<void>;
let clip: string;

before(async () => {
  ({ dir, cleanup } = await tempDir('cli-probe'));
  clip = await makeClip(join(dir, 'clip.mov'), {
    width: 64,
    height: 48,
    rate: '30000/1001',
    frames: 12,
    audio: { expr: 'sin(2*PI*440*t)', rate: 48000, codec: ['-c:a', 'pcm_s16le'] },
  });
  await writeFile(join(dir, 'notes.txt'), 'hello\n');
});
after(() => cleanup());

function tokenflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('tokenflow probe prints a table', async () => {
  const { code, stdout } = await tokenflow('probe', clip);
  assert.equal(code, 0);
  assert.match(stdout, /^File\s+.*clip\.mov$/m);
  assert.match(stdout, /^Frame rate\s+30000\/1001 \(29\.970 fps\), constant/m);
  assert.match(stdout, /^Frames\s+12 \(counted from packets\)$/m);
  assert.match(stdout, /^Duration\s+0\.400400 s = 101708006400 ticks$/m);
  assert.match(stdout, /^Audio 1\s+pcm_s16le, 1 ch \(mono\), 48000 Hz/m);
  assert.match(stdout, /^Processing\s+680x512 \(short side 512\)$/m);
});

test('tokenflow probe --json prints the MediaInfo', async () => {
  const { code, stdout } = await tokenflow('probe', '--json', clip);
  assert.equal(code, 0);
  const info = JSON.parse(stdout);
  assert.equal(info.path, clip);
  assert.deepEqual(info.video.frameRate, { num: 30000, den: 1001 });
  assert.equal(info.video.frameCount, 12);
  assert.equal(info.audio[0].sampleRate, 48000);
});

test('bad media: exit 1 with the reason; usage: exit 2', async () => {
  const missing = await tokenflow('probe', join(dir, 'missing.mov'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing\.mov" does not exist \[not_found\]/);
  const text = await tokenflow('probe', join(dir, 'notes.txt'));
  assert.equal(text.code, 1);
  assert.match(text.stderr, /notes\.txt" is not a video file.*\[not_video\]/);
  const usage = await tokenflow('probe');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing <file>/);
  const unknown = await tokenflow('probe', '--frames', clip);
  assert.equal(unknown.code, 2);
  const help = await tokenflow('probe', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: tokenflow probe <file> \[--json\]/);
});
