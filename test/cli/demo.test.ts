// `tokenflow demo`, spawned through bin/tokenflow.mjs: a generated clip edited end to end with
// the bundled tiny model; the video and the contact sheet probe correctly, and the output says
// plainly that the tiny model is random.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { probe } from '../../companion/media/index.ts';
import { tempDir, tokenflow } from '../helpers/cli.ts';

test('tokenflow demo: a generated clip edited end to end with the tiny model; video and contact sheet; says the model is random', async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-demo-');
  const out = path.join(dir, 'demo');
  const started = performance.now();
  const r = await tokenflow(['demo', '--out', out, '--frames', '8', '--steps', '2'], { TOKENFLOW_CACHE_DIR: path.join(dir, 'cache') });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(r.code, 0, r.stderr);
  t.diagnostic(`tokenflow demo --frames 8 --steps 2: ${seconds.toFixed(1)} s`);
  const [source, edited] = await Promise.all(['source.mp4', 'edited.mp4'].map((f) => probe(path.join(out, f))));
  for (const info of [source!, edited!]) {
    assert.deepEqual([info.video.frameCount, info.video.width, info.video.height], [8, 128, 96]);
    assert.deepEqual(info.video.frameRate, { num: 12, den: 1 });
  }
  const sheet = fs.readFileSync(path.join(out, 'contact_sheet.png'));
  assert.deepEqual([...sheet.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  // 8 thumbnails of the 88x64 processing size with 4-pixel gaps, two rows.
  assert.deepEqual([sheet.readUInt32BE(16), sheet.readUInt32BE(20)], [8 * 88 + 9 * 4, 2 * 64 + 3 * 4]);
  assert.match(r.stdout, /contact sheet: .*contact_sheet\.png/);
  assert.match(r.stdout, /random weights/);
  assert.match(r.stdout, /tokenflow models pull stabilityai\/stable-diffusion-2-1-base/);
});
