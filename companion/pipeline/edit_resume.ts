// How an edit uses its checkpoint (edit_checkpoint.ts): the key that says which edit a
// checkpoint belongs to, continuing from a usable one, and saving after each step.
import { createHash } from 'node:crypto';
import { EditCheckpoint, type CheckpointKey } from './edit_checkpoint.ts';
import type { EditClipOptions } from './edit_clip.ts';
import type { Editor } from './edit_types.ts';
import type { InputIdentity } from './inversion_cache.ts';

type Log = NonNullable<EditClipOptions['onLog']>;

export interface CheckpointContext {
  options: Pick<EditClipOptions, 'checkpointDir' | 'frames' | 'source' | 'prompts' | 'params' | 'pivots'>;
  inputs: InputIdentity;
  /** The keyframes of every step, as the edit uses them. */
  pivots: number[][];
  editor: Editor;
  shape: { n: number; h: number; w: number };
  channels: number;
}

/** The edit's checkpoint in options.checkpointDir (none without one). */
export function checkpointFor(ctx: CheckpointContext): EditCheckpoint | null {
  const { options } = ctx;
  if (!options.checkpointDir) return null;
  const values = ctx.shape.n * ctx.channels * ctx.shape.h * ctx.shape.w;
  return new EditCheckpoint(options.checkpointDir, checkpointKey(ctx), values, options.params.steps);
}

/**
 * Everything the edit's trajectory depends on. A checkpoint made under another key is not
 * resumed. Threads, memory mode and the execution provider are left out: they change at most
 * the float rounding, and a restart should not throw away hours of steps over them.
 */
function checkpointKey(ctx: CheckpointContext): CheckpointKey {
  const { frames } = ctx.options;
  return {
    model: ctx.inputs.model(),
    frames: { sha256: ctx.inputs.framesHash(), width: frames.width, height: frames.height, count: frames.count },
    source: ctx.options.source ?? null,
    prompts: ctx.options.prompts,
    params: ctx.options.params,
    // The keyframes of every step (drawn up front from the seed, or given): a resumed run uses the same rows.
    pivots: { from: ctx.options.pivots ? 'explicit' : 'seed', sha256: createHash('sha256').update(JSON.stringify(ctx.pivots)).digest('hex') },
    keyframeWindow: ctx.editor.keyframeWindow,
    dtype: ctx.editor.dtype,
    latents: [ctx.shape.n, ctx.channels, ctx.shape.h, ctx.shape.w],
  };
}

/** The checkpoint to continue from when it is usable; says why when one is ignored. */
export function resumeFrom(checkpoint: EditCheckpoint, log: Log): { stepsDone: number; x: Float32Array } | null {
  const found = checkpoint.load();
  if (found.found === 'ignored') log('warn', `edit checkpoint ignored: ${found.reason}; the edit starts at step 1`);
  return found.found === 'usable' ? found : null;
}

export function resumeMessage(stepsDone: number, steps: number): string {
  return stepsDone < steps
    ? `resuming the edit at step ${stepsDone + 1}/${steps} from a checkpoint (${stepsDone} step${stepsDone === 1 ? '' : 's'} done earlier)`
    : `all ${steps} edit steps were done earlier: decoding from the checkpoint`;
}

export function saveCheckpoint(checkpoint: EditCheckpoint, stepsDone: number, x: Float32Array, steps: number, log: Log): void {
  const started = performance.now();
  checkpoint.save(stepsDone, x);
  log('debug', `edit checkpoint: step ${stepsDone}/${steps} saved (${(x.byteLength / 1024 ** 2).toFixed(2)} MB in ${(performance.now() - started).toFixed(0)} ms)`);
}
