// Runs one TokenFlow edit in a child process, for tests that need a fresh process: peak memory
// (VmHWM of the child alone) and kill-and-restart. argv[2] is a JSON ChildRequest; progress and
// log lines go to stdout as JSON lines, the last line is {"type":"result", ...}.
import fs from 'node:fs';
import path from 'node:path';
import { editClip } from '../../companion/pipeline/edit_clip.ts';
import { createPipeline } from '../../companion/pipeline/tokenflow.ts';
import type { JobSettings } from '../../shared/jobs.ts';
import { REFERENCE_PARAMETERS } from '../../shared/parameters.ts';
import { writeSyntheticFrames } from './synthetic_frames.ts';

export interface ChildRequest {
  /** 'edit': editClip without caches; 'pipeline': the product pipeline module (caches from env + cacheDir). */
  mode: 'edit' | 'pipeline';
  model: string;
  dir: string;
  frames: number;
  width: number;
  height: number;
  steps: number;
  inversionSteps: number;
  batchSize: number;
}

function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function peakRssMB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const req = JSON.parse(process.argv[2]!) as ChildRequest;
const framesPath = path.join(req.dir, 'frames.rgb');
const frames = fs.existsSync(framesPath)
  ? { path: framesPath, width: req.width, height: req.height, count: req.frames }
  : writeSyntheticFrames(framesPath, req.width, req.height, req.frames);
const started = performance.now();
if (req.mode === 'edit') {
  const result = await editClip({
    modelDir: req.model, frames, prompts: { prompt: 'a red robot', negative_prompt: 'blurry', source_prompt: 'a clip' },
    params: { ...REFERENCE_PARAMETERS, steps: req.steps, batch_size: req.batchSize, inversion_steps: req.inversionSteps },
    outputPath: path.join(req.dir, 'out.rgb'), workDir: req.dir, runtime: { providers: ['cpu'] },
  });
  emit({ type: 'result', frames: result.frames.count, stats: result.stats, seconds: (performance.now() - started) / 1000, peakRssMB: peakRssMB() });
} else {
  const work = path.join(req.dir, 'work');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const settings: JobSettings = {
    prompt: 'a red robot', negative_prompt: 'blurry', source_prompt: 'a clip', preset: null, model: req.model,
    start_ticks: '0', end_ticks: '254016000000',
    parameters: { ...REFERENCE_PARAMETERS, steps: req.steps, inversion_steps: req.inversionSteps, batch_size: req.batchSize, short_side: Math.min(req.width, req.height) },
  };
  const output = await createPipeline().run(
    {
      frames: { ...frames, source: path.join(req.dir, 'source.mov'), startTicks: '0', endTicks: '254016000000', firstFrameIndex: 0, frameRate: { num: 10, den: 1 }, timeBase: { num: 1, den: 10 }, pts: [], ptsTicks: [] },
      settings, previewOnly: false, workDir: work, cacheDir: path.join(req.dir, 'job-cache'),
    },
    {
      signal: new AbortController().signal,
      onProgress: ({ stage, done, total }) => emit({ type: 'progress', stage, done, total }),
      onPreview: () => {},
      onLog: (level, message) => emit({ type: 'log', level, message }),
    },
  );
  emit({ type: 'result', frames: output.frames.count, indices: output.frameIndices.length, seconds: (performance.now() - started) / 1000 });
}
