// Test double for the pipeline: pure CPU work in its worker thread, the way a JavaScript
// compute loop would run, yielding to the worker's event loop between "model calls" (so an
// abort message is seen at the next call, as with the real pipeline).
// Query: ?spin=<ms of CPU per call>&calls=<calls per stage>
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Pipeline, PipelineHooks, PipelineInput, PipelineStage } from '../../../companion/pipeline/interface.ts';

const params = new URL(import.meta.url).searchParams;
const spinMs = Number(params.get('spin') ?? 20);
const calls = Number(params.get('calls') ?? 10);

async function stage(name: PipelineStage, hooks: PipelineHooks): Promise<void> {
  for (let i = 1; i <= calls; i++) {
    if (hooks.signal.aborted) throw new DOMException('aborted', 'AbortError');
    const end = performance.now() + spinMs;
    let x = 0;
    while (performance.now() < end) x += Math.sqrt(x + i);
    hooks.onProgress({ stage: name, done: i, total: calls });
    await yieldToLoop();
  }
}

export function createPipeline(): Pipeline {
  return {
    async run(input: PipelineInput, hooks: PipelineHooks) {
      await stage('invert', hooks);
      await stage('edit', hooks);
      await stage('decode', hooks);
      const out = path.join(input.workDir, 'edited.rgb');
      fs.copyFileSync(input.frames.path, out);
      const { width, height, count } = input.frames;
      return { frames: { path: out, width, height, count }, frameIndices: Array.from({ length: count }, (_, i) => i) };
    },
  };
}
