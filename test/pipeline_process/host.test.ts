import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_PIPELINE_MODULE, ParentSilentError, PipelineHost, type PipelineHostOptions } from '../../companion/pipeline_process/host.ts';
import { PipelineError, type PipelineHooks, type PipelineInput, type PipelineProgress } from '../../companion/pipeline/interface.ts';
import { JobRequest } from '../../shared/jobs.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import { sampleRequest, tempDir, waitFor } from '../jobs/helpers.ts';

const pipeline = (query: string) => new URL(`../jobs/doubles/invert_pipeline.ts?${query}`, import.meta.url);
/** For a test that waits on the pipeline: a regression there hangs instead of failing (generous; no measure of speed). */
const HANG_GUARD = { timeout: 120_000 };

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

test('heavy compute in the pipeline does not block this process: its event loop runs while the pipeline spins', HANG_GUARD, async (t) => {
  const dir = tempDir(t);
  const release = path.join(dir, 'release');
  const run = runPipelineInProcess(pipeline(`mode=busy&steps=1&until=${encodeURIComponent(release)}`), input(dir), recorder().hooks);
  // The pipeline's event loop is blocked from the marker on until the release exists, and only
  // this process writes it: were both one event loop, neither would go on (the test's timeout).
  await waitFor(() => fs.existsSync(`${release}.spinning`), 60_000, 'the pipeline to spin');
  fs.writeFileSync(release, '');
  await run;
});

test('abort is forwarded: the pipeline sees its signal and stops by itself, and the run rejects with an AbortError', HANG_GUARD, async (t) => {
  const controller = new AbortController();
  const r = recorder(controller.signal);
  const hooks = {
    ...r.hooks,
    onProgress: (progress: PipelineProgress) => {
      r.hooks.onProgress(progress);
      if (progress.stage === 'edit' && progress.done === 1) controller.abort(new Error('canceled by the user'));
    },
  };
  // mode=checkpoint: edit step 2 ends only once the pipeline's own signal fires; no kill comes
  // before the abort has done its work (the grace period is far away).
  await assert.rejects(
    runPipelineInProcess(pipeline('mode=checkpoint&delay=1&steps=3'), input(tempDir(t)), hooks, { abortGraceMs: 600_000 }),
    (e: unknown) => e instanceof DOMException && e.name === 'AbortError',
  );
  assert.deepEqual(r.progress, ['invert 1/3', 'invert 2/3', 'invert 3/3', 'edit 1/3', 'edit 2/3'], 'it stopped at the next step');
  assert.ok(r.logs.includes('checkpoint: step 2 saved after the abort'), r.logs.join('\n'));
});

test('a pipeline process that ignores abort is killed when the grace period ends, not before', async (t) => {
  const dir = tempDir(t);
  // mode=hang with a release that never comes: only the kill ends this run.
  const host = new PipelineHost(pipeline(`mode=hang&delay=1&steps=1&until=${encodeURIComponent(path.join(dir, 'never'))}`), { abortGraceMs: 200 });
  t.after(() => host.close());
  const controller = new AbortController();
  const run = host.run(input(dir), recorder(controller.signal).hooks);
  const kills = t.mock.method(ChildProcess.prototype, 'kill');
  // The grace timer runs on the test's clock.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  controller.abort(new Error('stop'));
  t.mock.timers.tick(199);
  assert.equal(kills.mock.callCount(), 0, 'not killed before the grace period');
  t.mock.timers.tick(1);
  assert.deepEqual(kills.mock.calls.map((c) => c.arguments), [['SIGKILL']]);
  await assert.rejects(run, (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
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

test('with silenceLimitMs, a run whose parent falls silent (no beats: frozen, or its event loop blocked) stops before writing more; the process is replaced', HANG_GUARD, async (t) => {
  const dir = tempDir(t);
  const release = path.join(dir, 'release');
  // Each step waits for the release, the run's event loop free to listen meanwhile.
  const host = new PipelineHost(pipeline(`delay=1&steps=2&until=${encodeURIComponent(release)}`), { silenceLimitMs: 300 });
  t.after(() => host.close());
  // The beats run on the test's clock, which stands still: the parent says nothing.
  t.mock.timers.enable({ apis: ['setInterval'] });
  const r = recorder();
  await assert.rejects(host.run(input(dir), r.hooks), (e: unknown) => {
    assert.ok(e instanceof ParentSilentError, String(e));
    assert.equal(e.code, 'pipeline_failed');
    assert.match(e.message, /no word from this process for 0\.3 s/);
    return true;
  });
  assert.deepEqual(r.progress, [], 'it stopped in its first step');
  t.mock.timers.reset();
  // A parent that beats keeps the next run going, on a fresh process.
  fs.writeFileSync(release, '');
  const next = recorder();
  await host.run(input(dir), next.hooks);
  assert.equal(fs.existsSync(path.join(dir, 'work', 'edited.rgb')), true);
  assert.deepEqual(next.logs, ['test pipeline: 4 frames, 4 out, run 1 in this worker']);
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
  // mode=hang ignores abort, and waits for a release: the host must kill that process and start a fresh one.
  const release = path.join(dir, 'release');
  const hanging = new PipelineHost(pipeline(`mode=hang&delay=1&steps=1&until=${encodeURIComponent(release)}`), { abortGraceMs: 100 });
  t.after(() => hanging.close());
  const c = new AbortController();
  const run = hanging.run(input(dir), recorder(c.signal).hooks);
  c.abort(new Error('stop'));
  await assert.rejects(run, { name: 'AbortError' });
  logs.length = 0;
  fs.writeFileSync(release, '');
  await hanging.run(input(dir), hooks);
  assert.match(logs[0] ?? '', /run 1 in this worker/, 'a fresh worker replaced the terminated one');
});
