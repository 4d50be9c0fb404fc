// Pipeline test double for the panel tests (runs in the daemon's pipeline worker): "edits"
// each frame by tinting it towards a colour, streams every keyframe as a preview, reports
// invert/edit/decode progress with a delay per step, and honours abort between steps.
// Query of the module URL: ?delay=<ms per step>&steps=<n>[&hold=<word>]
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pipeline, PipelineHooks, PipelineInput } from '../../../companion/pipeline/interface.ts';
import { encodePngRgb } from '../../../companion/util/png.ts';

const params = new URL(import.meta.url).searchParams;
const delay = Number(params.get('delay') ?? 5);
const steps = Number(params.get('steps') ?? 4);
/** A job whose prompt has this word stops after edit step HOLD_AFTER_EDIT_STEP until it is canceled. */
const hold = params.get('hold');
/** Where a held job stops: a state the e2e screenshots show the same on every run. */
const HOLD_AFTER_EDIT_STEP = 2;
/**
 * The daemon drops a progress tick that comes within 100 ms of the one before
 * (PROGRESS_INTERVAL_MS, companion/jobs/active_job.ts): the step a held job stops after takes
 * this long, so that its tick, the last one, is surely sent.
 */
const HOLD_STEP_MS = 400;

async function step(hooks: PipelineHooks, ms = delay): Promise<void> {
  if (hooks.signal.aborted) throw new DOMException('aborted', 'AbortError');
  await sleep(ms);
  if (hooks.signal.aborted) throw new DOMException('aborted', 'AbortError');
}

/** Waits until the job is canceled. */
function heldUntilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const abort = () => reject(new DOMException('aborted', 'AbortError'));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}

/** Edit step i: a held job stops before the step after HOLD_AFTER_EDIT_STEP. */
async function editStep(hooks: PipelineHooks, i: number, held: boolean): Promise<void> {
  if (held && i === HOLD_AFTER_EDIT_STEP + 1) await heldUntilAborted(hooks.signal);
  await step(hooks, held && i === HOLD_AFTER_EDIT_STEP ? HOLD_STEP_MS : delay);
}

/** Warm orange wash over the frame: visibly "edited" in screenshots. */
function tint(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length);
  for (let i = 0; i < frame.length; i += 3) {
    out[i] = Math.min(255, 120 + frame[i] * 0.6);
    out[i + 1] = Math.min(255, 50 + frame[i + 1] * 0.5);
    out[i + 2] = Math.min(255, 90 + frame[i + 2] * 0.3);
  }
  return out;
}

export function createPipeline(): Pipeline {
  return {
    async run(input: PipelineInput, hooks: PipelineHooks) {
      const { frames } = input;
      const frameBytes = frames.width * frames.height * 3;
      const batch = input.settings.parameters.batch_size;
      const keyframes = Array.from({ length: Math.ceil(frames.count / batch) }, (_, i) => i * batch);
      const outputIndices = input.previewOnly ? keyframes : Array.from({ length: frames.count }, (_, i) => i);
      const source = fs.readFileSync(frames.path);
      const frameAt = (k: number) => tint(source.subarray(k * frameBytes, (k + 1) * frameBytes));
      const held = hold !== null && input.settings.prompt.includes(hold);
      for (let i = 1; i <= steps; i++) {
        await step(hooks);
        hooks.onProgress({ stage: 'invert', done: i, total: steps });
      }
      for (let i = 1; i <= steps; i++) {
        await editStep(hooks, i, held);
        const k = keyframes[(i - 1) % keyframes.length];
        hooks.onPreview({ index: k, mime: 'image/png', data: encodePngRgb(frameAt(k), frames.width, frames.height), width: frames.width, height: frames.height });
        hooks.onProgress({ stage: 'edit', done: i, total: steps });
      }
      const out = path.join(input.workDir, 'edited.rgb');
      const fd = fs.openSync(out, 'w');
      for (const [n, k] of outputIndices.entries()) {
        if (n % 4 === 0) await step(hooks);
        fs.writeSync(fd, frameAt(k));
        hooks.onProgress({ stage: 'decode', done: n + 1, total: outputIndices.length });
      }
      fs.closeSync(fd);
      return { frames: { path: out, width: frames.width, height: frames.height, count: outputIndices.length }, frameIndices: outputIndices };
    },
  };
}
