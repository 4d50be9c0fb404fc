// The product differences of the edit from the reference (README): any clip length
// (a shorter last batch with its own keyframe), any aspect ratio, the inversion cache across
// prompts, cancel, preview-only and keyframe previews. On the bundled tiny model at tiny sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { editClip, type EditClipOptions } from '../../companion/pipeline/edit_clip.ts';
import type { PipelineProgress, PipelinePreview } from '../../companion/pipeline/interface.ts';
import { InversionCache } from '../../companion/pipeline/inversion_cache.ts';
import { resolveEditSchedule } from '../../companion/pipeline/schedule.ts';
import { REFERENCE_PARAMETERS } from '../../shared/parameters.ts';
import { writeSyntheticFrames } from '../helpers/synthetic_frames.ts';

const TINY = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-edit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function options(dir: string, over: Partial<EditClipOptions> & { n?: number; width?: number; height?: number } = {}): EditClipOptions {
  const { n = 10, width = 32, height = 24, ...rest } = over;
  const framesPath = path.join(dir, `frames-${n}-${width}x${height}.rgb`);
  const frames = fs.existsSync(framesPath) ? { path: framesPath, width, height, count: n } : writeSyntheticFrames(framesPath, width, height, n);
  return {
    modelDir: TINY,
    frames,
    prompts: { prompt: 'a red robot', negative_prompt: 'blurry', source_prompt: 'a clip' },
    params: { ...REFERENCE_PARAMETERS, steps: 3, batch_size: 4, inversion_steps: 3 },
    outputPath: path.join(dir, 'out.rgb'),
    workDir: dir,
    runtime: { providers: ['cpu'] },
    ...rest,
  };
}

test('10 frames in batches of 4 (a shorter last batch) at a non-square 32x24: exactly 10 frames out, keyframe per batch, evaluations by the formula', async (t) => {
  const dir = tempDir(t);
  const previews: PipelinePreview[] = [];
  const progress = new Map<string, [number, number]>();
  const timeline: string[] = [];
  const r = await editClip(options(dir, {
    onPreview: (p) => previews.push(p),
    previewEvery: 1,
    runtime: { providers: ['cpu'], log: (message: string) => timeline.push(message) },
    onProgress: ({ stage, done, total }) => {
      if (!progress.has(stage)) timeline.push(`${stage} ${done}/${total}`);
      progress.set(stage, [done, total]);
    },
  }));
  // The edit stage shows (0 of a count not known yet) before its editor loads its UNet session.
  const editShown = timeline.indexOf('edit 0/0');
  const editorLoaded = timeline.findIndex((line, i) => i > timeline.indexOf('invert 0/4') + 2 && /^unet: running on cpu/.test(line));
  assert.ok(editShown >= 0 && editorLoaded > editShown, timeline.join('\n'));
  assert.deepEqual({ count: r.frames.count, width: r.frames.width, height: r.frames.height }, { count: 10, width: 32, height: 24 });
  assert.equal(fs.statSync(r.frames.path).size, 10 * 32 * 24 * 3);
  assert.deepEqual(r.frameIndices, [...Array(10).keys()]);
  assert.equal(r.pivots.length, 3);
  for (const row of r.pivots) {
    assert.equal(row.length, 3);
    assert.ok(row[0]! < 4 && row[1]! >= 4 && row[1]! < 8 && row[2]! >= 8 && row[2]! < 10, `pivots ${row}`);
  }
  // S * 3 * (N + K) edit evaluations, steps * N for the inversion (spec section 10).
  assert.equal(r.stats.editUnetEvaluations, 3 * 3 * (10 + 3));
  assert.equal(r.stats.editUnetCalls, 3 * (1 + 3));
  assert.equal(r.stats.invertUnetEvaluations, 3 * 10);
  // invert: 1 VAE encoder call (10 frames of 32x24 in one chunk), then 3 UNet calls.
  assert.deepEqual(progress.get('invert'), [4, 4]);
  assert.deepEqual(progress.get('edit'), [12, 12]);
  assert.deepEqual(progress.get('decode'), [10, 10]);
  // Keyframe previews each step (previewEvery 1): the step's keyframes, as PNG.
  assert.equal(previews.length, 3 * 3);
  previews.forEach((p, i) => {
    assert.equal(p.index, r.pivots[Math.floor(i / 3)]![i % 3]);
    assert.deepEqual([...p.data.subarray(0, 4)], PNG_MAGIC);
    assert.deepEqual([p.width, p.height, p.mime], [32, 24, 'image/png']);
  });
  // The output is an edit of the input, not a copy or a constant.
  const out = fs.readFileSync(r.frames.path);
  assert.notDeepEqual(out, fs.readFileSync(path.join(dir, 'frames-10-32x24.rgb')));
  assert.ok(new Set(out).size > 50);
});

test('inversion cache: a second prompt reuses the inversion; a changed source prompt or changed frames miss; eviction keeps the bound', async (t) => {
  const dir = tempDir(t);
  const cache = new InversionCache(path.join(dir, 'cache'));
  const first = await editClip(options(dir, { caches: [cache] }));
  assert.equal(first.cacheHit, false);
  assert.equal(first.stats.invertUnetEvaluations, 30);
  const entry = cache.entries();
  assert.equal(entry.length, 1);
  assert.equal(first.storeDir, entry[0]!.dir);

  const second = await editClip(options(dir, { caches: [cache], prompts: { prompt: 'a snowy street', negative_prompt: 'blurry', source_prompt: 'a clip' } }));
  assert.equal(second.cacheHit, true);
  assert.equal(second.storeDir, first.storeDir);
  // No inversion work on a hit (the time it saves is measured by `npm run bench -- pipeline`).
  assert.ok(first.stats.invertUnetCalls > 0);
  assert.deepEqual([second.stats.invertUnetCalls, second.stats.invertUnetEvaluations], [0, 0]);

  const otherSource = await editClip(options(dir, { caches: [cache], prompts: { prompt: 'a red robot', negative_prompt: 'blurry', source_prompt: 'a video' } }));
  assert.equal(otherSource.cacheHit, false);
  writeSyntheticFrames(path.join(dir, 'frames-10-32x24.rgb'), 32, 24, 10, 3); // same file, new content
  const otherFrames = await editClip(options(dir, { caches: [cache] }));
  assert.equal(otherFrames.cacheHit, false);
  assert.equal(cache.entries().length, 3);

  // A bound of two entries' size: the least recently used (the first, last used by `second`) goes.
  const bounded = new InversionCache(cache.dir, 2 * entry[0]!.bytes + 1000);
  const third = await editClip(options(dir, { caches: [bounded], prompts: { prompt: 'x', negative_prompt: 'blurry', source_prompt: 'a third' } }));
  const left = bounded.entries().map((e) => e.dir);
  assert.equal(left.length, 2);
  assert.ok(left.includes(third.storeDir) && left.includes(otherFrames.storeDir));
  assert.ok(!left.includes(first.storeDir));
});

test('cancel mid-edit rejects promptly with an AbortError and leaves no output; cancel mid-inversion leaves no cache entry', async (t) => {
  const dir = tempDir(t);
  const cache = new InversionCache(path.join(dir, 'cache'));
  const controller = new AbortController();
  const afterAbort: PipelineProgress[] = [];
  const running = editClip(options(dir, {
    caches: [cache],
    signal: controller.signal,
    params: { ...REFERENCE_PARAMETERS, steps: 6, batch_size: 4, inversion_steps: 6 },
    onProgress: (p) => {
      if (controller.signal.aborted) afterAbort.push(p);
      else if (p.stage === 'edit' && p.done === 5) controller.abort(new DOMException('canceled by the test', 'AbortError'));
    },
  }));
  await assert.rejects(running, { name: 'AbortError' });
  // The edit checks the signal at each UNet call (edit_step.ts): after the abort, no further
  // call, step or decode reports progress.
  assert.deepEqual(afterAbort, []);
  assert.equal(fs.existsSync(path.join(dir, 'out.rgb')), false);
  assert.equal(cache.entries().length, 1, 'the finished inversion stays cached');

  const inInversion = new AbortController();
  const cache2 = new InversionCache(path.join(dir, 'cache2'));
  await assert.rejects(editClip(options(dir, {
    caches: [cache2], signal: inInversion.signal,
    onProgress: ({ stage, done }) => {
      if (stage === 'invert' && done === 1) inInversion.abort(new DOMException('canceled', 'AbortError'));
    },
  })), { name: 'AbortError' });
  assert.deepEqual(fs.readdirSync(cache2.dir), [], 'no entry and no temporary folder');
});

test('preview only: the keyframes of step 0 alone, inverted and edited on their own, at a fraction of the evaluations', async (t) => {
  const dir = tempDir(t);
  const previews: PipelinePreview[] = [];
  const r = await editClip(options(dir, { n: 12, previewOnly: true, onPreview: (p) => previews.push(p), previewEvery: 3 }));
  const keyframes = r.pivots[0]!;
  assert.deepEqual(r.frameIndices, keyframes);
  assert.equal(r.frames.count, 3);
  assert.equal(r.stats.invertUnetEvaluations, 3 * 3, 'only the keyframes are inverted');
  assert.equal(r.stats.editUnetEvaluations, 3 * 3 * 3, 'S * 3 * K (a full edit: S * 3 * (N + K) = 135)');
  assert.deepEqual(previews.map((p) => p.index), keyframes);

  // With the whole clip already in the cache, a preview reads the keyframes' rows from it.
  const cache = new InversionCache(path.join(dir, 'cache'));
  const full = await editClip(options(dir, { n: 12, caches: [cache] }));
  const preview = await editClip(options(dir, { n: 12, caches: [cache], previewOnly: true }));
  assert.equal(preview.cacheHit, true);
  assert.equal(preview.storeDir, full.storeDir);
  assert.deepEqual(preview.frameIndices, keyframes);
});

test('a forced precision (TOKENFLOW_PRECISION, --precision) reaches every graph of the edit, the TokenFlow UNet included', async (t) => {
  const dir = tempDir(t);
  const lines: string[] = [];
  await editClip(options(dir, { n: 4, params: { ...REFERENCE_PARAMETERS, steps: 1, batch_size: 4, inversion_steps: 1 }, runtime: { providers: ['cpu'], dtype: 'float16', conversionCacheDir: path.join(dir, 'weights'), log: (l: string) => lines.push(l) } }));
  const sessions = lines.filter((l) => / running on /.test(l));
  assert.ok(sessions.length >= 4, lines.join('\n'));
  assert.deepEqual(sessions.filter((l) => !l.endsWith(' with the float16 graph')), [], 'graphs that ignored the forced float16');
});

test('settings that cannot work fail before any model runs, naming the problem', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(editClip(options(dir, { params: { ...REFERENCE_PARAMETERS, steps: 3, batch_size: 4, inversion_steps: 4 } })), {
    code: 'bad_request', message: /inversion_steps 4 does not contain the 3 edit timesteps \(missing t = 667, 334\); .* must be one of 3, 9, 27, 101-111, 251-333, 667-999$/,
  });
  await assert.rejects(editClip(options(dir, { width: 33 })), /frames are 33x24; this model's VAE needs both sides to be multiples of 2/);
  await assert.rejects(editClip(options(dir, { schedule: await resolveEditSchedule(TINY, 3, 9) })), /edit schedule: resolved for 3 steps \/ 9 inversion steps, the edit has 3 \/ 3/);
  await assert.rejects(editClip(options(dir, { pivots: [[0, 4, 8], [0, 4, 8]] })), /pivots: 2 rows for 3 steps/);
  await assert.rejects(editClip(options(dir, { pivots: [[0, 4, 8], [0, 4, 8], [0, 3, 8]] })), /pivots\[2\]\[1\] = 3 is not a frame of batch 1 \(frames 4\.\.7\)/);
});
