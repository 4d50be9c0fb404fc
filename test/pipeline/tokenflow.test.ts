// The product pipeline module: long clips in bounded memory, resume after a kill from the
// inversion cache, model resolution, and a real daemon job end to end (JobService with the
// default pipeline module, the bundled tiny model, a generated clip).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobService } from '../../companion/jobs/service.ts';
import { probe } from '../../companion/media/index.ts';
import { jobModelDir, productRuntime } from '../../companion/pipeline/tokenflow.ts';
import { JobRequest, type JobRecord } from '../../shared/jobs.ts';
import { makeClip } from '../media/clips.ts';
import type { ChildRequest } from '../helpers/pipeline_child.ts';

const TINY = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));
const CHILD = fileURLToPath(new URL('../helpers/pipeline_child.ts', import.meta.url));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-pipeline-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface ChildLine { type: string; stage?: string; done?: number; level?: string; message?: string; peakRssMB?: number; frames?: number; seconds?: number }

/** Runs the child; `onLine` may return 'kill' to SIGKILL it. Resolves with its lines and exit. */
function runChild(req: ChildRequest, env: NodeJS.ProcessEnv, onLine: (l: ChildLine) => 'kill' | void = () => {}): Promise<{ lines: ChildLine[]; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(req)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: ChildLine[] = [];
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, i)) as ChildLine;
        buf = buf.slice(i + 1);
        lines.push(line);
        if (onLine(line) === 'kill') child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ lines, code, signal, stderr }));
  });
}

test('a 400-frame clip edits within 1.3x the peak memory of a 40-frame clip (separate processes, VmHWM)', { skip: process.platform !== 'linux' && 'VmHWM is Linux-only' }, async (t) => {
  const peaks: Record<number, number> = {};
  for (const frames of [40, 400]) {
    const dir = tempDir(t);
    const r = await runChild({ mode: 'edit', model: TINY, dir, frames, width: 16, height: 16, steps: 2, inversionSteps: 2, batchSize: 8 }, {});
    assert.equal(r.code, 0, r.stderr);
    const result = r.lines.at(-1)!;
    assert.equal(result.frames, frames);
    peaks[frames] = result.peakRssMB!;
  }
  t.diagnostic(`peak RSS: 40 frames ${peaks[40]!.toFixed(0)} MB, 400 frames ${peaks[400]!.toFixed(0)} MB (ratio ${(peaks[400]! / peaks[40]!).toFixed(2)})`);
  assert.ok(peaks[400]! <= 1.3 * peaks[40]!, `400 frames: ${peaks[400]} MB vs 40 frames: ${peaks[40]} MB`);
});

test('killed mid-edit, the job runs again without preprocessing: the inversion comes from the job cache folder', async (t) => {
  const dir = tempDir(t);
  // A shared cache bound of 0 sends the entry to the job's own cache folder (what survives a restart).
  const env = { TOKENFLOW_CACHE_DIR: path.join(dir, 'shared'), TOKENFLOW_INVERSION_CACHE_GB: '0' };
  const req: ChildRequest = { mode: 'pipeline', model: TINY, dir, frames: 12, width: 32, height: 24, steps: 4, inversionSteps: 4, batchSize: 4 };
  const killed = await runChild(req, env, (l) => (l.type === 'progress' && l.stage === 'edit' && l.done! >= 2 ? 'kill' : undefined));
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  assert.ok(killed.lines.some((l) => l.stage === 'invert'), 'the first run inverted');
  assert.ok(!killed.lines.some((l) => l.type === 'result'));
  assert.equal(fs.readdirSync(path.join(dir, 'job-cache', 'inversion')).filter((f) => !f.startsWith('.')).length, 1);

  const again = await runChild(req, env);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(!again.lines.some((l) => l.stage === 'invert'), 'no inversion progress on the second run');
  assert.ok(again.lines.some((l) => l.type === 'log' && /inversion: reusing the cached latents/.test(l.message!)));
  assert.equal(again.lines.at(-1)!.frames, 12);
  assert.equal(fs.existsSync(path.join(dir, 'shared', 'inversion')) ? fs.readdirSync(path.join(dir, 'shared', 'inversion')).length : 0, 0);
});

test('model: the one the job\'s settings name (id or folder); none or a missing one is model_not_found with what to do', async () => {
  assert.equal(await jobModelDir('tiny-sd15', {}), TINY);
  assert.equal(await jobModelDir(TINY, {}), TINY);
  // The environment is no side channel for the daemon's default: it is recorded in the settings at submit.
  await assert.rejects(jobModelDir(null, { TOKENFLOW_MODEL: TINY }), { code: 'model_not_found', message: /no default model \(start it with `tokenflow serve --model/ });
  await assert.rejects(jobModelDir('acme/nothing-here', { HF_HUB_CACHE: os.tmpdir() }), { code: 'model_not_found', message: /tokenflow models pull acme\/nothing-here/ });
});

test('daemon job end to end: the real pipeline with the tiny model renders the range at the source size, rate and frame count', async (t) => {
  const dir = tempDir(t);
  process.env.TOKENFLOW_CACHE_DIR = path.join(dir, 'cache'); // inherited by the pipeline worker
  const source = await makeClip(path.join(dir, 'clip.mp4'), { width: 64, height: 48, rate: '10', frames: 12 });
  const service = new JobService({ dataDir: path.join(dir, 'data'), outputDir: path.join(dir, 'renders') });
  await service.start();
  t.after(() => service.close());
  const stages = new Set<string>();
  let previews = 0;
  service.on('job.progress', (e) => stages.add(e.stage));
  service.on('job.preview', () => previews++);
  const { job } = await service.submit(JobRequest.parse({
    source_path: source,
    range: { start_seconds: 0.2, end_seconds: 1.0 },
    prompt: 'a red robot',
    model: 'tiny-sd15',
    parameters: { steps: 2, inversion_steps: 2, short_side: 64, batch_size: 3 },
    codec: 'h264',
  }));
  let done: JobRecord | undefined;
  for (let i = 0; i < 600 && !(done && ['succeeded', 'failed', 'canceled', 'interrupted'].includes(done.state)); i++) {
    await new Promise((r) => setTimeout(r, 100));
    done = service.get(job.id);
  }
  assert.equal(done!.state, 'succeeded', JSON.stringify(done!.error));
  const result = done!.result!;
  assert.deepEqual([result.frame_count, result.width, result.height, result.frame_rate], [8, 64, 48, '10/1']);
  const info = await probe(result.output_path!);
  assert.deepEqual([info.video.frameCount, info.video.width, info.video.height], [8, 64, 48]);
  assert.deepEqual(info.video.frameRate, { num: 10, den: 1 });
  for (const s of ['invert', 'edit', 'decode', 'encode']) assert.ok(stages.has(s), `progress of ${s} (${[...stages]})`);
  assert.ok(done!.timings.edit !== undefined && done!.timings.invert !== undefined);
  assert.ok(previews > 0, 'keyframe previews were streamed');
});

test('product runtime: caches under TOKENFLOW_CACHE_DIR; TOKENFLOW_PRECISION forces one graph precision', () => {
  const root = path.resolve('/tmp/tf-cache-root');
  assert.deepEqual(productRuntime({ TOKENFLOW_CACHE_DIR: root }), {
    conversionCacheDir: path.join(root, 'weights'), graphCacheDir: path.join(root, 'graphs'),
  });
  assert.equal(productRuntime({ TOKENFLOW_CACHE_DIR: root, TOKENFLOW_PRECISION: 'float32' }).dtype, 'float32');
  assert.throws(() => productRuntime({ TOKENFLOW_PRECISION: 'fp8' }), /TOKENFLOW_PRECISION must be float32 or float16, got "fp8"/);
  assert.deepEqual(productRuntime({ TOKENFLOW_CACHE_DIR: root, TOKENFLOW_PROVIDERS: 'webgpu, cpu' }).providers, ['webgpu', 'cpu']);
  assert.throws(() => productRuntime({ TOKENFLOW_PROVIDERS: 'webgpu,metal' }), /TOKENFLOW_PROVIDERS: unknown execution provider "metal"/);
});
