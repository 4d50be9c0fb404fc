import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isInsideOutputDir, outputBaseName, removeJobLeftovers, removeOutputFiles, slug } from '../../companion/jobs/output_files.ts';
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
  const refused = removeOutputFiles(out, [render, path.join(out, '..', 'precious.mov')]);
  assert.deepEqual(refused, [path.join(out, '..', 'precious.mov')]);
  assert.equal(fs.existsSync(render), false);
  assert.equal(fs.existsSync(victim), true);
});

test('leftovers of one job are removed, other files kept', (t) => {
  const out = tempDir(t);
  for (const f of ['clip_fox_0b6f2f36.mov', '.clip_fox_0b6f2f36.mov.partial', 'clip_fox_11111111.mov']) fs.writeFileSync(path.join(out, f), 'x');
  assert.deepEqual(removeJobLeftovers(out, 'clip_fox_0b6f2f36').sort(), ['.clip_fox_0b6f2f36.mov.partial', 'clip_fox_0b6f2f36.mov']);
  assert.deepEqual(fs.readdirSync(out), ['clip_fox_11111111.mov']);
});
