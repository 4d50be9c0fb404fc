// Test double for the TokenFlow pipeline (runs in the pipeline worker like the real one):
// "edits" by inverting colours, with a delay per step, honouring abort between steps.
// Options come from the module URL's query: ?delay=<ms per step>&steps=<n>&mode=<normal|busy|hang|crash|fail|checkpoint>&until=<file>&hold=<stage>&release=<file>
//   until: each step first waits until <file> exists (busy: spinning, after writing
//          `<file>.spinning`; otherwise with its event loop free), so a test, not the clock,
//          says when the run goes on
//   busy:  each step spins the CPU instead of sleeping (heavy compute, as a model call)
//   hang:  ignores abort (to test the host's grace-period terminate)
//   crash: the worker dies mid-edit
//   fail:  rejects with a PipelineError('pipeline_failed')
//   checkpoint: saves `<cacheDir>/edit-checkpoint/step-<i>` after each edit step without looking
//          at the signal (as edit_clip.ts does), and step 2 runs until an abort arrives, however
//          early (a model call under way when the job is canceled or the daemon stops)
//   hold:  the second step of that stage (invert, edit or decode; the first one's progress has
//          shown the stage) never ends on its own: it waits for an abort and, with release,
//          until <file> exists (a model call that sees the abort late), then rejects with an
//          AbortError (steps >= 2)
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError, type Pipeline, type PipelineHooks, type PipelineInput } from '../../../companion/pipeline/interface.ts';
import { encodePngRgb } from '../../../companion/util/png.ts';
import { untilAborted } from './until_aborted.ts';

const params = new URL(import.meta.url).searchParams;
const delay = Number(params.get('delay') ?? 5);
const steps = Number(params.get('steps') ?? 4);
const mode = params.get('mode') ?? 'normal';
const until = params.get('until');
const hold = params.get('hold');
const release = params.get('release');
/** Runs this worker has done (the host reuses workers between jobs). */
let runs = 0;

async function step(hooks: PipelineHooks): Promise<void> {
  if (mode !== 'hang' && hooks.signal.aborted) throw new DOMException('aborted', 'AbortError');
  if (mode === 'busy') {
    // As onnxruntime-node's session.run: a turn of the event loop, then compute that blocks it.
    await new Promise((resolve) => setImmediate(resolve));
    if (until !== null) fs.writeFileSync(`${until}.spinning`, '');
    const end = performance.now() + delay;
    while (until !== null ? !fs.existsSync(until) : performance.now() < end);
  } else {
    while (until !== null && !fs.existsSync(until)) await sleep(5);
    await sleep(delay);
  }
}

export function createPipeline(): Pipeline {
  return {
    async run(input: PipelineInput, hooks: PipelineHooks) {
      const { frames } = input;
      const frameBytes = frames.width * frames.height * 3;
      const keyframes = input.previewOnly
        ? Array.from({ length: Math.ceil(frames.count / input.settings.parameters.batch_size) }, (_, i) => i * input.settings.parameters.batch_size)
        : Array.from({ length: frames.count }, (_, i) => i);
      const source = fs.readFileSync(frames.path);
      fs.writeFileSync(path.join(input.cacheDir, 'inverted.marker'), 'x');
      for (let i = 1; i <= steps; i++) {
        await stepOf('invert', i, hooks);
        hooks.onProgress({ stage: 'invert', done: i, total: steps });
      }
      hooks.onLog('info', `test pipeline: ${frames.count} frames, ${keyframes.length} out, run ${++runs} in this worker`);
      for (let i = 1; i <= steps; i++) {
        await (mode === 'checkpoint' && i === 2 ? untilAborted(hooks.signal) : stepOf('edit', i, hooks));
        if (mode === 'checkpoint') saveStep(input, hooks, i);
        if (mode === 'crash' && i === 2) process.exit(3);
        if (mode === 'fail' && i === 2) throw new PipelineError('pipeline_failed', 'test pipeline failure');
        const frame = source.subarray(0, frameBytes).map((v) => 255 - v);
        hooks.onPreview({ index: 0, mime: 'image/png', data: encodePngRgb(frame, frames.width, frames.height), width: frames.width, height: frames.height });
        hooks.onProgress({ stage: 'edit', done: i, total: steps });
      }
      const out = path.join(input.workDir, 'edited.rgb');
      const fd = fs.openSync(out, 'w');
      for (const [n, k] of keyframes.entries()) {
        await stepOf('decode', n + 1, hooks);
        fs.writeSync(fd, source.subarray(k * frameBytes, (k + 1) * frameBytes).map((v) => 255 - v));
        hooks.onProgress({ stage: 'decode', done: n + 1, total: keyframes.length });
      }
      fs.closeSync(fd);
      return {
        frames: { path: out, width: frames.width, height: frames.height, count: keyframes.length },
        frameIndices: keyframes,
      };
    },
  };
}

/** Step `i` (from 1) of `stage`: held (see `hold`) or a plain step. */
async function stepOf(stage: string, i: number, hooks: PipelineHooks): Promise<void> {
  if (hold !== stage || i !== 2) return step(hooks);
  await untilAborted(hooks.signal);
  while (release !== null && !fs.existsSync(release)) await sleep(5);
  throw new DOMException('aborted', 'AbortError');
}

function saveStep(input: PipelineInput, hooks: PipelineHooks, i: number): void {
  const dir = path.join(input.cacheDir, 'edit-checkpoint');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `step-${i}`), 'x');
  hooks.onLog('debug', `checkpoint: step ${i} saved${hooks.signal.aborted ? ' after the abort' : ''}`);
}
