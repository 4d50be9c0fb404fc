// runHeadlessEdit runs a job's stages (jobs/runner.ts) without the queue: the progress it shows
// goes through every stage of a job in the job's order, the runner's log lines are its lines,
// and its work folder (in TMPDIR) and staging folder are gone afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { STAGES, type Stage } from '../../shared/jobs.ts';
import { JobParameters } from '../../shared/parameters.ts';
import { runHeadlessEdit } from '../../companion/cli/edit.ts';
import type { ProgressSink } from '../../companion/cli/progress_bar.ts';
import { tempDir } from '../helpers/cli.ts';
import { makeClip } from '../media/clips.ts';

test("runHeadlessEdit: a job's stages in a job's order, the runner's log lines, no folder left behind", async (t) => {
  const dir = tempDir(t, 'tokenflow-edit-stages-');
  const tmp = path.join(dir, 'tmp');
  const outDir = path.join(dir, 'out');
  fs.mkdirSync(tmp);
  fs.mkdirSync(outDir);
  const saved = { TMPDIR: process.env.TMPDIR, TOKENFLOW_CACHE_DIR: process.env.TOKENFLOW_CACHE_DIR };
  process.env.TMPDIR = tmp;
  process.env.TOKENFLOW_CACHE_DIR = path.join(dir, 'cache');
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  const clip = await makeClip(path.join(dir, 'clip.mp4'), { width: 64, height: 64, rate: '10', frames: 3 });
  const stages: Stage[] = [];
  const lines: string[] = [];
  const sink: ProgressSink = {
    update: (stage) => {
      if (stages.at(-1) !== stage) stages.push(stage);
    },
    line: (text) => lines.push(text),
    done: () => {},
  };
  const output = path.join(outDir, 'edited.mp4');
  const r = await runHeadlessEdit({
    input: clip,
    output,
    model: 'tiny-sd15',
    prompt: 'a red robot',
    negative_prompt: '',
    source_prompt: '',
    parameters: JobParameters.parse({ steps: 1, inversion_steps: 1, short_side: 64, batch_size: 4 }),
    codec: 'h264',
    audio: true,
    progress: sink,
  });
  assert.deepEqual(stages, [...STAGES]);
  assert.ok(lines.includes('extract: 3 frames at 64x64 (source 64x64, 10/1 fps)'), lines.join('\n'));
  assert.ok(lines.includes('the source has no audio; rendering video only'), lines.join('\n'));
  assert.deepEqual(
    [r.result.output_path, r.result.frame_count, r.result.width, r.result.height, r.result.frame_rate, r.result.codec, r.result.has_audio],
    [output, 3, 64, 64, '10/1', 'h264', false],
  );
  assert.deepEqual(Object.keys(r.timings).sort(), ['decode', 'edit', 'encode', 'extract', 'invert', 'probe', 'text']);
  assert.equal(r.edit.frames.count, 3);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith('tokenflow-edit-')), [], 'the work folder is removed');
  assert.deepEqual(fs.readdirSync(outDir), ['edited.mp4'], 'the staging folder is removed');
});
