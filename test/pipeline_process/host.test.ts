import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_PIPELINE_MODULE, ParentSilentError, PipelineHost, type PipelineHostOptions } from '../../companion/pipeline_process/host.ts';
import { PipelineError, type PipelineHooks, type PipelineInput, type PipelineProgress } from '../../companion/pipeline/interface.ts';
import { JobRequest } from '../../shared/jobs.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import { sampleRequest, tempDir } from '../jobs/helpers.ts';

const pipeline = (query: string) => new URL(`../jobs/doubles/invert_pipeline.ts?${query}`, import.meta.url);

/** One run on a fresh host (closed afterwards). */
async function runPipelineInProcess(module: URL, input: PipelineInput, hooks: PipelineHooks, options: PipelineHostOptions = {}) {
  const host = new PipelineHost(module, options);
  try {
    return await host.run(input, hooks);
  } finally {
    await host.close();
  }
}

function input(dir: string, count = 4, previewOnly = false): PipelineInput {
  const width = 8;
  const height = 4;
  const framesPath = path.join(dir, 'in.rgb');
  fs.writeFileSync(framesPath, Buffer.alloc(width * height * 3 * count, 10));
  for (const d of ['work', 'cache']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const request = JobRequest.parse({ ...sampleRequest('/m/a.mov'), parameters: { batch_size: 2 } });
  return {
    frames: {
      path: framesPath, width, height, count, source: '/m/a.mov', startTicks: '0', endTicks: '1', firstFrameIndex: 0,
      frameRate: { num: 10, den: 1 }, timeBase: { num: 1, den: 10 }, pts: [], ptsTicks: [],
    },
    settings: resolveJobSettings(request, undefined),
    previewOnly,
    workDir: path.join(dir, 'work'),
    cacheDir: path.join(dir, 'cache'),
  };
}

function recorder(signal = new AbortController().signal) {
  const progress: string[] = [];
  const previews: number[] = [];
  const logs: string[] = [];
  const hooks: PipelineHooks = {
    signal,
    onProgress: ({ stage, done, total }) => progress.push(`${stage} ${done}/${total}`),
    onPreview: (p) => previews.push(p.data.length),
    onLog: (_l, m) => logs.push(m),
  };
  return { hooks, progress, previews, logs };
}

test('the pipeline runs in a child process: progress, previews, logs and frames come back', async (t) => {
  const dir = tempDir(t);
  const r = recorder();
  const out = await runPipelineInProcess(pipeline('delay=1&steps=2'), input(dir), r.hooks);
  assert.deepEqual(r.progress, ['invert 1/2', 'invert 2/2', 'edit 1/2', 'edit 2/2', 'decode 1/4', 'decode 2/4', 'decode 3/4', 'decode 4/4']);
  assert.equal(r.previews.length, 2);
  assert.ok(r.previews[0] > 8);
  assert.deepEqual(r.logs, ['test pipeline: 4 frames, 4 out, run 1 in this worker']);
  assert.deepEqual(out.frameIndices, [0, 1, 2, 3]);
  assert.deepEqual(fs.readFileSync(out.frames.path).subarray(0, 3), Buffer.from([245, 245, 245]));
});

test('preview-only returns one keyframe per batch', async (t) => {
  const out = await runPipelineInProcess(pipeline('delay=1&steps=1'), input(tempDir(t), 5, true), recorder().hooks);
  assert.deepEqual(out.frameIndices, [0, 2, 4]);
  assert.equal(out.frames.count, 3);
});

test('heavy compute in the pipeline does not block the event loop', async (t) => {
  const dir = tempDir(t);
  let maxLag = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last - 10);
    last = now;
  }, 10);
  try {
    await runPipelineInProcess(pipeline('mode=busy&delay=60&steps=8'), input(dir), recorder().hooks);
  } finally {
    clearInterval(timer);
  }
  assert.ok(maxLag < 100, `event loop lag ${maxLag.toFixed(1)} ms`);
});

test('abort is forwarded and the run rejects with an AbortError promptly', async (t) => {
  const controller = new AbortController();
  const r = recorder(controller.signal);
  let abortedAt = 0;
  const hooks = {
    ...r.hooks,
    onProgress: (progress: PipelineProgress) => {
      r.hooks.onProgress(progress);
      if (progress.done === 3 && !controller.signal.aborted) {
        abortedAt = performance.now();
        controller.abort(new Error('canceled by the user'));
      }
    },
  };
  await assert.rejects(runPipelineInProcess(pipeline('delay=30&steps=100'), input(tempDir(t)), hooks), (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
  const took = performance.now() - abortedAt;
  assert.ok(r.progress.length >= 3 && r.progress.length <= 5, `${r.progress.length} steps ran`);
  assert.ok(took < 200, `stopped ${took.toFixed(0)} ms after the abort`);
});

test('a pipeline process that ignores abort is killed after the grace period', async (t) => {
  const controller = new AbortController();
  const run = runPipelineInProcess(pipeline('mode=hang&delay=50&steps=1000'), input(tempDir(t)), recorder(controller.signal).hooks, { abortGraceMs: 200 });
  await new Promise((r) => setTimeout(r, 400));
  const t0 = performance.now();
  controller.abort(new Error('stop'));
  await assert.rejects(run, (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
  const took = performance.now() - t0;
  assert.ok(took >= 190 && took < 1000, `${took} ms`);
});

test('a crashing pipeline process and a failing pipeline become coded PipelineErrors', async (t) => {
  await assert.rejects(runPipelineInProcess(pipeline('mode=crash&delay=1'), input(tempDir(t)), recorder().hooks), (e: unknown) => {
    assert.ok(e instanceof PipelineError);
    assert.equal(e.code, 'pipeline_failed');
    assert.match(e.message, /the pipeline process exited unexpectedly \(exit code 3\)/);
    return true;
  });
  await assert.rejects(runPipelineInProcess(pipeline('mode=fail&delay=1'), input(tempDir(t)), recorder().hooks), {
    name: 'PipelineError', code: 'pipeline_failed', message: 'test pipeline failure',
  });
});

test('with silenceLimitMs, a run whose parent falls silent (its event loop blocked) stops before writing more; the process is replaced', async (t) => {
  const dir = tempDir(t);
  const host = new PipelineHost(pipeline('delay=20&steps=50'), { silenceLimitMs: 300 });
  t.after(() => host.close());
  const r = recorder();
  const hooks = {
    ...r.hooks,
    onProgress: (progress: PipelineProgress) => {
      r.hooks.onProgress(progress);
      // Frozen for four times the limit, while the run goes on in its process.
      if (progress.stage === 'invert' && progress.done === 2) {
        const end = performance.now() + 1200;
        while (performance.now() < end);
      }
    },
  };
  await assert.rejects(host.run(input(dir), hooks), (e: unknown) => {
    assert.ok(e instanceof ParentSilentError, String(e));
    assert.equal(e.code, 'pipeline_failed');
    assert.match(e.message, /no word from this process for 0\.3 s/);
    return true;
  });
  // It stopped in the edit steps: the decode's frames were never written.
  assert.equal(fs.existsSync(path.join(dir, 'work', 'edited.rgb')), false);
  assert.ok(!r.progress.includes('edit 50/50'), r.progress.join(', '));
  // A parent that beats keeps the next run going, on a fresh process.
  await host.run(input(dir), recorder().hooks);
  assert.equal(fs.existsSync(path.join(dir, 'work', 'edited.rgb')), true);
});

test('with silenceLimitMs, model calls that block the run process longer than the limit do not stop it while its parent beats', async (t) => {
  const dir = tempDir(t);
  const r = recorder();
  await runPipelineInProcess(pipeline('mode=busy&delay=400&steps=2'), input(dir, 1), r.hooks, { silenceLimitMs: 150 });
  assert.deepEqual(r.progress, ['invert 1/2', 'invert 2/2', 'edit 1/2', 'edit 2/2', 'decode 1/1']);
});

test('the product pipeline module is the TokenFlow pipeline: without a model it fails with model_not_found (no fake edit)', async (t) => {
  assert.match(DEFAULT_PIPELINE_MODULE.pathname, /companion\/pipeline\/tokenflow\.ts$/);
  await assert.rejects(runPipelineInProcess(DEFAULT_PIPELINE_MODULE, input(tempDir(t)), recorder().hooks), {
    code: 'model_not_found',
    message: /no default model/,
  });
});

test('pipeline processes are reused between runs, and replaced after a crash or an abort timeout', async (t) => {
  const dir = tempDir(t);
  const host = new PipelineHost(pipeline('delay=1&steps=1'));
  t.after(() => host.close());
  const logs: string[] = [];
  const hooks = { ...recorder().hooks, onLog: (_l: string, m: string) => logs.push(m) };
  const t0 = performance.now();
  await host.run(input(dir), hooks);
  const first = performance.now() - t0;
  const t1 = performance.now();
  await host.run(input(dir), hooks);
  const second = performance.now() - t1;
  assert.deepEqual(logs.map((l) => l.replace(/.*(run \d+).*/, '$1')), ['run 1', 'run 2']);
  t.diagnostic(`first run ${first.toFixed(0)} ms (worker start), second ${second.toFixed(0)} ms`);
  // mode=hang ignores abort: the host must terminate that worker and start a fresh one.
  const hanging = new PipelineHost(pipeline('mode=hang&delay=40&steps=3'), { abortGraceMs: 100 });
  t.after(() => hanging.close());
  const c = new AbortController();
  // Abort at the first step; the hanging pipeline would need ~360 ms more to finish.
  const run = hanging.run(input(dir), { ...recorder(c.signal).hooks, onProgress: () => c.abort(new Error('stop')) });
  await assert.rejects(run, { name: 'AbortError' });
  logs.length = 0;
  await hanging.run(input(dir), hooks);
  assert.match(logs[0] ?? '', /run 1 in this worker/, 'a fresh worker replaced the terminated one');
});
