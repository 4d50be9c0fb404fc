// `tokenflow edit`, spawned through bin/tokenflow.mjs with the bundled tiny model: the output
// appears where -o says, with the range's frame count, the source's size and frame rate; a
// second prompt reuses the inversion; bad settings fail without output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { probe } from '../../companion/media/index.ts';
import { tempDir, tokenflow } from '../helpers/cli.ts';
import { makeClip } from '../media/clips.ts';

test('tokenflow edit: a range of a clip, output beside the source, same size, rate and range frame count; timings printed', async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  const env = { TOKENFLOW_CACHE_DIR: path.join(dir, 'cache') };
  const clip = await makeClip(path.join(dir, 'clip.mp4'), { width: 80, height: 48, rate: '10', frames: 12 });
  const out = path.join(dir, 'edited.mp4');
  const common = ['--model', 'tiny-sd15', '--steps', '2', '--inversion-steps', '2', '--short-side', '64', '--batch-size', '4', '--codec', 'h264'];
  const r = await tokenflow(['edit', clip, '--prompt', 'a red robot', '--start', '0.2', '--end', '0.8', ...common, '-o', out], env);
  assert.equal(r.code, 0, r.stderr);
  const info = await probe(out);
  assert.deepEqual([info.video.frameCount, info.video.width, info.video.height], [6, 80, 48]);
  assert.deepEqual(info.video.frameRate, { num: 10, den: 1 });
  assert.match(r.stderr, /6 frames at 104x64/);
  assert.match(r.stderr, /timings: probe [\d.]+ s, extract [\d.]+ s, text [\d.]+ s, invert [\d.]+ s, edit [\d.]+ s, decode [\d.]+ s, encode [\d.]+ s; total/);
  assert.match(r.stderr, /edit +\[#+\] 100% +step 2\/2/);
  assert.match(r.stdout, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 6 frames, 80x48, 10/1 fps, h264`));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['cache', 'clip.mp4', 'edited.mp4'], 'no staging folder left');

  // Ticks work as well as seconds, and a second prompt on the same range reuses the inversion.
  const again = await tokenflow(['edit', clip, '--prompt', 'a snowy street', '--start', '50803200000t', '--end', '203212800000t', ...common, '-o', path.join(dir, 'b.mov')], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /inversion: reusing the cached latents/);
  assert.match(again.stderr, /inversion from the cache/);

  // Settings that cannot work: nothing is written.
  const bad = await tokenflow(['edit', clip, '--prompt', 'x', ...common, '--inversion-steps', '3', '-o', path.join(dir, 'c.mp4')], env);
  assert.equal(bad.code, 1);
  assert.doesNotMatch(bad.stderr, /extract/, 'refused before extracting frames');
  assert.match(bad.stderr, /inversion_steps 3 does not contain the 2 edit timesteps .* must be one of 2, 4, 8, 10, 20, /);
  assert.equal(fs.existsSync(path.join(dir, 'c.mp4')), false);
  const usage = await tokenflow(['edit', clip, '--prompt', 'x', '--steps', '0', '--model', 'tiny-sd15', '-o', path.join(dir, 'd.mov')], env);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--steps: steps must be a whole number from 1 to 1000/);
  const badExt = await tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '-o', path.join(dir, 'e.mp4')], env);
  assert.equal(badExt.code, 2);
  assert.match(badExt.stderr, /ProRes needs a \.mov file/);
  const badProvider = await tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '--provider', 'metal', '-o', path.join(dir, 'g.mov')], env);
  assert.equal(badProvider.code, 2);
  assert.match(badProvider.stderr, /--provider: unknown execution provider "metal"/);
  const badPrecision = await tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '--precision', 'fp8', '-o', path.join(dir, 'g.mov')], env);
  assert.equal(badPrecision.code, 2);
  assert.match(badPrecision.stderr, /--precision must be float32 or float16, got "fp8"/);
  const noOut = await tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15'], env);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /-o OUT\.mov is required/);
  // No model named and only the bundled test model installed: refused, saying what to do.
  const noModel = await tokenflow(['edit', clip, '--prompt', 'x', '-o', path.join(dir, 'f.mov')],
    { ...env, TOKENFLOW_MODEL: undefined, HF_HUB_CACHE: path.join(dir, 'empty-hf') });
  assert.equal(noModel.code, 1);
  assert.match(noModel.stderr, /no Stable Diffusion model is installed: run `tokenflow models pull stabilityai\/stable-diffusion-2-1-base`, pass --model DIR, or --model tiny-sd15/);
  assert.equal(fs.existsSync(path.join(dir, 'f.mov')), false);
});
