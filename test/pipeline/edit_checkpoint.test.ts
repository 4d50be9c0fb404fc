// Edit checkpoints (edit_checkpoint.ts, wired in edit_clip.ts and the daemon's pipeline): an
// edit interrupted after step k continues at step k + 1 and ends bit-identical to an
// uninterrupted run; checkpoints of other settings, truncated or corrupt ones are ignored with
// the reason; none is left after success; a daemon killed mid-edit resumes the job's edit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { JobService } from '../../companion/jobs/service.ts';
import { differences, EditCheckpoint } from '../../companion/pipeline/edit_checkpoint.ts';
import { editClip, type EditClipOptions, type EditParams } from '../../companion/pipeline/edit_clip.ts';
import { InversionCache } from '../../companion/pipeline/inversion_cache.ts';
import type { JobRecord, JobRequestInput } from '../../shared/jobs.ts';
import { REFERENCE_PARAMETERS } from '../../shared/parameters.ts';
import { makeClip } from '../media/clips.ts';
import { writeSyntheticFrames } from '../helpers/synthetic_frames.ts';

const TINY = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));
const DAEMON_CHILD = fileURLToPath(new URL('../helpers/tokenflow_daemon_child.ts', import.meta.url));

// 10 frames of 32x24 in batches of 4: 3 keyframes, 1 keyframe pass + 3 propagate calls a step.
const N = 10;
const STEPS = 4;
const CALLS = 1 + 3;
const EVALS_PER_STEP = 3 * (N + 3);
const PARAMS: EditParams = { ...REFERENCE_PARAMETERS, steps: STEPS, batch_size: 4, inversion_steps: STEPS };

// Built TokenFlow graphs, shared by the runs of this file (a build costs more than a tiny edit).
const GRAPHS = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-ckpt-graphs-'));
after(() => fs.rmSync(GRAPHS, { recursive: true, force: true }));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-ckpt-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A job-like edit: inversion cached and checkpoints kept in folders of `dir`. */
function options(dir: string, over: Partial<EditClipOptions> = {}): EditClipOptions {
  const framesPath = path.join(dir, 'frames.rgb');
  const frames = fs.existsSync(framesPath) ? { path: framesPath, width: 32, height: 24, count: N } : writeSyntheticFrames(framesPath, 32, 24, N);
  return {
    modelDir: TINY,
    frames,
    prompts: { prompt: 'a red robot', negative_prompt: 'blurry', source_prompt: 'a clip' },
    params: PARAMS,
    outputPath: path.join(dir, 'out.rgb'),
    workDir: dir,
    caches: [new InversionCache(path.join(dir, 'inversion'), Number.POSITIVE_INFINITY)],
    checkpointDir: checkpointDir(dir),
    runtime: { providers: ['cpu'], graphCacheDir: GRAPHS },
    ...over,
  };
}

const checkpointDir = (dir: string) => path.join(dir, 'edit-checkpoint');

/** Runs the edit and aborts it inside step `k` (0-based, at its second UNet call): k steps are complete. */
async function interruptInStep(opts: EditClipOptions, k: number): Promise<void> {
  const controller = new AbortController();
  await assert.rejects(editClip({
    ...opts,
    signal: controller.signal,
    onProgress: ({ stage, done }) => {
      if (stage === 'edit' && done === k * CALLS + 1) controller.abort();
    },
  }), { name: 'AbortError' });
}

/** Logs and counted edit-stage progress ([done, total, doneBefore]) of a run (not the stage's start, total 0). */
function recorder() {
  const logs: string[] = [];
  const edit: [number, number, number][] = [];
  const hooks: Pick<EditClipOptions, 'onLog' | 'onProgress'> = {
    onLog: (_level, message) => logs.push(message),
    onProgress: ({ stage, done, total, doneBefore }) => {
      if (stage === 'edit' && total > 0) edit.push([done, total, doneBefore ?? 0]);
    },
  };
  return { logs, edit, hooks };
}

function manifestOf(dir: string): { stepsDone: number; file: string } {
  return JSON.parse(fs.readFileSync(path.join(checkpointDir(dir), 'manifest.json'), 'utf8')) as { stepsDone: number; file: string };
}

test('an edit interrupted after step 2 of 4 resumes at step 3 and ends bit-identical to an uninterrupted run; no checkpoint is left', async (t) => {
  const dir = tempDir(t);
  const finalLatents: Record<string, Buffer> = {};
  const keepLast = (name: string) => ({ step: (s: number, x: Float32Array) => { if (s === STEPS - 1) finalLatents[name] = Buffer.from(x.slice().buffer); } });
  const reference = await editClip(options(dir, { caches: [], checkpointDir: undefined, outputPath: path.join(dir, 'reference.rgb'), capture: keepLast('reference') }));

  await interruptInStep(options(dir), 2);
  assert.equal(manifestOf(dir).stepsDone, 2);
  assert.deepEqual(fs.readdirSync(checkpointDir(dir)).sort(), ['manifest.json', 'x-0002.f32'], 'only the latest checkpoint is kept');

  const rec = recorder();
  const stepsRun: number[] = [];
  const resumed = await editClip(options(dir, {
    ...rec.hooks,
    capture: { step: (s, x) => { stepsRun.push(s); keepLast('resumed').step(s, x); } },
  }));
  assert.ok(rec.logs.includes('resuming the edit at step 3/4 from a checkpoint (2 steps done earlier)'), rec.logs.join('\n'));
  assert.deepEqual(stepsRun, [2, 3]);
  assert.equal(resumed.stats.editUnetEvaluations, 2 * EVALS_PER_STEP);
  assert.equal(resumed.stats.editUnetCalls, 2 * CALLS);
  // Progress starts at the steps done earlier, which it reports as not this run's work.
  assert.deepEqual(rec.edit[0], [2 * CALLS, STEPS * CALLS, 2 * CALLS]);
  assert.deepEqual(rec.edit.at(-1), [STEPS * CALLS, STEPS * CALLS, 2 * CALLS]);
  assert.ok(rec.edit.every(([done], i) => i === 0 || done >= rec.edit[i - 1]![0]), 'progress never goes back');
  // The same keyframes, the same latents and frames as the run that was never interrupted.
  assert.deepEqual(resumed.pivots, reference.pivots);
  assert.ok(finalLatents.reference!.equals(finalLatents.resumed!), 'final latents are bit-identical');
  assert.ok(fs.readFileSync(resumed.frames.path).equals(fs.readFileSync(reference.frames.path)), 'final frames are bit-identical');
  assert.equal(fs.existsSync(checkpointDir(dir)), false, 'the checkpoint is removed after success');
});

test('an abort that comes while a step\'s last UNet call runs: the step ends and is saved before the edit stops', async (t) => {
  const dir = tempDir(t);
  const controller = new AbortController();
  const k = 1;
  await assert.rejects(editClip(options(dir, {
    signal: controller.signal,
    // Counted as the call starts, after the step's last cancellation point: the abort lands
    // while that call runs (a microtask, before the call's result).
    onProgress: ({ stage, done }) => {
      if (stage === 'edit' && done === (k + 1) * CALLS - 1) queueMicrotask(() => controller.abort());
    },
  })), { name: 'AbortError' });
  // A stopped daemon's job resumes after this step; a canceled job's folder, checkpoint
  // included, is removed once its run has ended (test/jobs/service.test.ts).
  assert.equal(manifestOf(dir).stepsDone, k + 1);
  assert.deepEqual(fs.readdirSync(checkpointDir(dir)).sort(), ['manifest.json', `x-000${k + 1}.f32`]);
});

test('stopped while decoding, the next run skips every edit step and decodes the checkpoint', async (t) => {
  const dir = tempDir(t);
  const controller = new AbortController();
  await assert.rejects(editClip(options(dir, {
    signal: controller.signal,
    onProgress: ({ stage }) => { if (stage === 'decode') controller.abort(); },
  })), { name: 'AbortError' });
  assert.equal(manifestOf(dir).stepsDone, STEPS, 'the checkpoint stays until the frames are decoded');
  const rec = recorder();
  const r = await editClip(options(dir, rec.hooks));
  assert.ok(rec.logs.includes(`all ${STEPS} edit steps were done earlier: decoding from the checkpoint`), rec.logs.join('\n'));
  assert.equal(r.stats.editUnetEvaluations, 0);
  assert.deepEqual(rec.edit, [[STEPS * CALLS, STEPS * CALLS, STEPS * CALLS]]);
  assert.equal(r.frames.count, N);
  assert.equal(fs.existsSync(checkpointDir(dir)), false);
});

/** Makes a checkpoint after 1 step and keeps a pristine copy; returns a function restoring it. */
async function checkpointAfterOneStep(dir: string): Promise<() => void> {
  await interruptInStep(options(dir), 1);
  const pristine = path.join(dir, 'pristine-checkpoint');
  fs.cpSync(checkpointDir(dir), pristine, { recursive: true });
  return () => {
    fs.rmSync(checkpointDir(dir), { recursive: true, force: true });
    fs.cpSync(pristine, checkpointDir(dir), { recursive: true });
  };
}

/** Runs the edit over a restored checkpoint that must be ignored for `reason`; checks it ran all steps. */
async function assertIgnored(dir: string, over: Partial<EditClipOptions>, reason: RegExp): Promise<void> {
  const rec = recorder();
  const r = await editClip(options(dir, { ...over, ...rec.hooks }));
  const line = rec.logs.find((l) => l.startsWith('edit checkpoint ignored: '));
  assert.ok(line, `no "ignored" log line in:\n${rec.logs.join('\n')}`);
  assert.match(line, reason);
  assert.match(line, /; the edit starts at step 1$/);
  assert.ok(!rec.logs.some((l) => l.startsWith('resuming')));
  assert.deepEqual(rec.edit[0], [0, STEPS * CALLS, 0]);
  assert.equal(r.stats.editUnetEvaluations, STEPS * EVALS_PER_STEP);
  assert.equal(fs.existsSync(checkpointDir(dir)), false);
}

test('a checkpoint made with another seed or another prompt is ignored, naming the setting, and the edit runs from step 1', async (t) => {
  const dir = tempDir(t);
  const restore = await checkpointAfterOneStep(dir);
  restore();
  await assertIgnored(dir, { params: { ...PARAMS, seed: 2 } }, /^edit checkpoint ignored: it was made with different settings \(params\.seed, pivots\.sha256\)/);
  restore();
  await assertIgnored(dir, { prompts: { prompt: 'a blue car', negative_prompt: 'blurry', source_prompt: 'a clip' } }, /\(prompts\.prompt\)/);
});

test('a truncated or corrupted checkpoint is ignored with the reason, and the edit runs from step 1', async (t) => {
  const dir = tempDir(t);
  const restore = await checkpointAfterOneStep(dir);
  const latents = path.join(checkpointDir(dir), 'x-0001.f32');
  const size = fs.statSync(latents).size;
  restore();
  fs.truncateSync(latents, size / 2);
  await assertIgnored(dir, {}, new RegExp(`x-0001\\.f32 has ${size / 2} bytes \\(${size} when written\\), expected ${size} \\(truncated\\?\\)`));
  restore();
  const bytes = fs.readFileSync(latents);
  bytes[100] ^= 0x40;
  fs.writeFileSync(latents, bytes);
  await assertIgnored(dir, {}, /x-0001\.f32 does not match the checksum in manifest\.json \(corrupt\)/);
  restore();
  const manifest = path.join(checkpointDir(dir), 'manifest.json');
  fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').slice(0, 40));
  await assertIgnored(dir, {}, /manifest\.json is not valid JSON/);
});

test('checkpoint files: only the latest kept, a crash mid-write leaves the previous one, mismatches are explained', (t) => {
  const dir = path.join(tempDir(t), 'ckpt');
  const key = { params: { seed: 1, steps: 4 }, prompts: { target: 'a' } };
  const x = (v: number) => new Float32Array(24).fill(v);
  const cp = new EditCheckpoint(dir, key, 24, 4);
  assert.deepEqual(cp.load(), { found: 'none' });
  cp.save(1, x(1));
  cp.save(2, x(2));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['manifest.json', 'x-0002.f32']);
  // A kill while writing step 3's latents: its temp file is there, the manifest still names step 2.
  fs.writeFileSync(path.join(dir, '.x-0003.f32.tmp-999999'), Buffer.alloc(40));
  assert.deepEqual(cp.load(), { found: 'usable', stepsDone: 2, x: x(2) });
  cp.save(3, x(3));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['manifest.json', 'x-0003.f32'], 'the leftover temp file is cleared by the next save');
  // Another key, a step count the edit does not have, a missing latents file.
  assert.deepEqual(new EditCheckpoint(dir, { ...key, params: { seed: 1, steps: 5 } }, 24, 5).load(), { found: 'ignored', reason: 'it was made with different settings (params.steps)' });
  assert.deepEqual(new EditCheckpoint(dir, key, 24, 2).load(), { found: 'ignored', reason: 'manifest.json: stepsDone 3 is not in 1..2' });
  fs.rmSync(path.join(dir, 'x-0003.f32'));
  assert.deepEqual(cp.load(), { found: 'ignored', reason: 'x-0003.f32 is missing' });
  assert.throws(() => cp.save(1, x(1).subarray(1)), /x has 23 values, expected 24/);
  cp.remove();
  assert.equal(fs.existsSync(dir), false);
  assert.deepEqual(differences({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { b: 1, c: [1, 3] }, e: 'x' }), ['a.c', 'd', 'e']);
});

/** What tokenflow_daemon_child.ts prints: its job's state changes, progress and log lines. */
interface ChildEvent { type: string; id?: string; job_id?: string; message?: string }

/** Events of the child daemon until `stop` says kill; resolves once it is dead. */
async function runDaemonUntil(args: string[], env: NodeJS.ProcessEnv, stop: (e: ChildEvent) => boolean): Promise<ChildEvent[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', DAEMON_CHILD, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const events: ChildEvent[] = [];
  for await (const text of readline.createInterface({ input: child.stdout })) {
    const event = JSON.parse(text) as ChildEvent;
    events.push(event);
    if (stop(event)) {
      child.kill('SIGKILL');
      break;
    }
  }
  assert.equal(await exited, 'SIGKILL', `the child daemon ended by itself:\n${stderr}`);
  return events;
}

test('daemon killed (SIGKILL) mid-edit after 2+ steps: on restart the job resumes the edit at the next step, not step 1', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const outputDir = path.join(dir, 'renders');
  const env = { TOKENFLOW_CACHE_DIR: path.join(dir, 'cache') };
  process.env.TOKENFLOW_CACHE_DIR = env.TOKENFLOW_CACHE_DIR; // inherited by this process's pipeline worker
  const source = await makeClip(path.join(dir, 'clip.mp4'), { width: 64, height: 48, rate: '10', frames: 12 });
  // 12 frames in batches of 4: 3 keyframes; per step 1 keyframe pass + 3 propagate calls.
  const steps = 6;
  const perStep = { calls: 4, evaluations: 3 * (12 + 3) };
  const request: JobRequestInput = {
    source_path: source, range: { start_seconds: 0, end_seconds: 1.2 }, prompt: 'a red robot', model: 'tiny-sd15',
    parameters: { steps, inversion_steps: steps, short_side: 64, batch_size: 4 }, codec: 'h264',
  };
  const killed = await runDaemonUntil([dataDir, outputDir, JSON.stringify(request)], env,
    (e) => e.type === 'job.log' && e.message!.startsWith(`edit checkpoint: step 2/${steps} saved`));
  const id = killed.find((e) => e.type === 'job.state')!.id!;
  const manifest = JSON.parse(fs.readFileSync(path.join(dataDir, 'work', id, 'cache', 'edit-checkpoint', 'manifest.json'), 'utf8')) as { stepsDone: number };
  const k = manifest.stepsDone;
  assert.ok(k >= 2 && k < steps, `checkpoint after ${k} steps`);
  t.diagnostic(`killed with a checkpoint after ${k} of ${steps} steps`);

  const service = new JobService({ dataDir, outputDir });
  const logs: string[] = [];
  const editProgress: number[] = [];
  service.on('job.log', (e) => logs.push(e.message));
  // (The stage-start event, total 0, comes before the pipeline's first count.)
  service.on('job.progress', (e) => { if (e.stage === 'edit' && e.total > 0) editProgress.push(e.done); });
  await service.start();
  t.after(() => service.close());
  let job: JobRecord | undefined;
  for (let i = 0; i < 600 && !(job && ['succeeded', 'failed', 'canceled', 'interrupted'].includes(job.state)); i++) {
    await new Promise((r) => setTimeout(r, 100));
    job = service.get(id);
  }
  assert.equal(job!.state, 'succeeded', `${JSON.stringify(job!.error)}\n${logs.join('\n')}`);
  assert.equal(job!.attempts, 2);
  assert.ok(logs.includes(`resuming the edit at step ${k + 1}/${steps} from a checkpoint (${k} steps done earlier)`), logs.join('\n'));
  assert.ok(logs.some((l) => /^inversion: reusing the cached latents/.test(l)));
  // Only the remaining steps ran: the evaluation count the pipeline reports.
  const remaining = steps - k;
  assert.ok(logs.some((l) => l.includes(`edit ${remaining * perStep.evaluations} in ${remaining * perStep.calls} calls`)), logs.join('\n'));
  // Events are throttled, so not every count arrives; none is below the resumed steps.
  assert.ok(editProgress.length > 0 && editProgress.every((d) => d >= k * perStep.calls), `edit progress ${editProgress} starts at ${k * perStep.calls}`);
  assert.equal(editProgress.at(-1), steps * perStep.calls);
  assert.equal(fs.existsSync(path.join(dataDir, 'work', id)), false, 'the job folder (and its checkpoint) is gone after success');
  assert.equal(job!.result!.frame_count, 12);
});
