import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isInsideOutputDir, outputBaseName, removeJobFiles, removeJobLeftovers, slug } from '../../companion/jobs/output_files.ts';
import { tempDir } from './helpers.ts';

test('output names: sanitized clip, prompt slug, job id prefix', () => {
  const id = '0b6f2f36-7f0c-4d47-9b7c-6f8d0d8f1a2b';
  assert.equal(outputBaseName('/Volumes/Media/My Clip (final).MOV', 'A watercolor painting of a fox, soft', id), 'my-clip-final_a-watercolor-painting-of-a-fox_0b6f2f36');
  assert.equal(outputBaseName('C:\\Users\\me\\Été à Paris.mp4', '"; rm -rf / ;', id), 'ete-a-paris_rm-rf_0b6f2f36');
  assert.equal(outputBaseName('/x/../../.mov', '日本語', id), 'clip_edit_0b6f2f36');
  assert.equal(slug('supercalifragilisticexpialidociousword', 10, 'x'), 'supercalif');
});

test('only files directly inside the output folder may be deleted', (t) => {
  const root = tempDir(t);
  const out = path.join(root, 'renders');
  fs.mkdirSync(out);
  const victim = path.join(root, 'precious.mov');
  fs.writeFileSync(victim, 'x');
  const render = path.join(out, 'a.mov');
  fs.writeFileSync(render, 'x');
  fs.mkdirSync(path.join(out, 'sub'));
  fs.symlinkSync(root, path.join(out, 'link'));
  assert.equal(isInsideOutputDir(out, render), true);
  for (const bad of [victim, path.join(out, '..', 'precious.mov'), path.join(out, 'link', 'precious.mov'), path.join(out, 'sub', 'x.mov'), out, '/etc/passwd']) {
    assert.equal(isInsideOutputDir(out, bad), false, bad);
  }
  const refused = removeJobFiles(out, [render, path.join(out, '..', 'precious.mov')]);
  assert.deepEqual(refused, [path.join(out, '..', 'precious.mov')]);
  assert.equal(fs.existsSync(render), false);
  assert.equal(fs.existsSync(victim), true);
});

test('a farm daemon deletes a job\'s render on shared storage only by its exact job name, never a link or another file', (t) => {
  const root = tempDir(t);
  const out = path.join(root, 'renders');
  const shared = path.join(root, 'shared');
  fs.mkdirSync(out);
  fs.mkdirSync(shared);
  const base = 'clip_fox_0b6f2f36';
  const render = path.join(shared, `${base}.mov`);
  const frame = path.join(shared, `${base}_frame07.png`);
  const other = path.join(shared, 'clip_fox_11111111.mov');
  const precious = path.join(root, 'precious.mov');
  const link = path.join(shared, `${base}.mp4`);
  for (const f of [render, frame, other, precious]) fs.writeFileSync(f, 'x');
  fs.symlinkSync(precious, link);
  const asked = [render, frame, other, link, path.join(shared, `${base}.mov.bak`)];
  assert.deepEqual(removeJobFiles(out, asked), asked, 'a local daemon deletes nothing outside its output folder');
  assert.deepEqual(removeJobFiles(out, asked, base), [other, link, path.join(shared, `${base}.mov.bak`)]);
  assert.deepEqual(fs.readdirSync(shared).sort(), [`${base}.mp4`, 'clip_fox_11111111.mov']);
  assert.equal(fs.existsSync(precious), true);
});

test('leftovers of one job are removed, other files kept', (t) => {
  const out = tempDir(t);
  for (const f of ['clip_fox_0b6f2f36.mov', '.clip_fox_0b6f2f36.mov.partial', 'clip_fox_11111111.mov']) fs.writeFileSync(path.join(out, f), 'x');
  assert.deepEqual(removeJobLeftovers(out, 'clip_fox_0b6f2f36').sort(), ['.clip_fox_0b6f2f36.mov.partial', 'clip_fox_0b6f2f36.mov']);
  assert.deepEqual(fs.readdirSync(out), ['clip_fox_11111111.mov']);
});
