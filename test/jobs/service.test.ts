// JobService with the fake media double and the colour-inverting test pipeline: lifecycle,
// queueing, cancel, delete, idempotency, disk full, progress and events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobServiceError } from '../../companion/jobs/errors.ts';
import { fsLogIo, type LogIo } from '../../companion/jobs/jsonl_log.ts';
import { JobService } from '../../companion/jobs/service.ts';
import { ServerEvent, type ServerEvent as ServerEventT } from '../../shared/events.ts';
import { JobRecord, type JobRequest, type JobRequestInput, type JobResult } from '../../shared/jobs.ts';
import { PresetBody } from '../../shared/presets.ts';
import { fakeMedia, type FakeMediaOptions } from './doubles/fake_media.ts';
import { JobStore } from '../../companion/jobs/job_store.ts';
import type { RunJobContext } from '../../companion/jobs/runner.ts';
import { releaseGate, sampleRecord, sampleRequest, tempDir, waitFor } from './helpers.ts';

const HOUR_MS = 3_600_000;
const pipeline = (query: string) => new URL(`./doubles/invert_pipeline.ts?${query}`, import.meta.url);

interface Setup {
  service: JobService;
  events: ServerEventT[];
  source: string;
  outputDir: string;
  dataDir: string;
  media: ReturnType<typeof fakeMedia>;
}

async function setup(
  t: { after(fn: () => void | Promise<void>): void },
  opts: { media?: FakeMediaOptions; pipeline?: string; concurrency?: number; previewIntervalMs?: number; now?: () => number; dataDir?: string } = {},
): Promise<Setup> {
  const root = tempDir(t);
  const dataDir = opts.dataDir ?? path.join(root, 'data');
  const outputDir = path.join(root, 'renders');
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'not really a movie');
  const media = fakeMedia(opts.media);
  const service = new JobService({
    dataDir,
    outputDir,
    media,
    pipelineModule: pipeline(opts.pipeline ?? 'delay=1&steps=2'),
    concurrency: opts.concurrency,
    previewIntervalMs: opts.previewIntervalMs,
    now: opts.now,
  });
  const events: ServerEventT[] = [];
  service.onEvent((e) => {
    ServerEvent.parse(e); // every event the service emits is valid protocol
    events.push(e);
  });
  await service.start();
  t.after(() => service.close());
  return { service, events, source, outputDir, dataDir, media };
}

/** The job's successive state:stage values (consecutive repeats, e.g. timing updates, folded). */
const states = (events: ServerEventT[], id: string) =>
  events
    .flatMap((e) => (e.type === 'job.state' && e.job.id === id ? [`${e.job.state}${e.job.stage ? `:${e.job.stage}` : ''}`] : []))
    .filter((s, i, all) => s !== all[i - 1]);

async function settled(service: JobService, id: string, ms = 15_000) {
  await waitFor(() => ['succeeded', 'failed', 'canceled', 'interrupted'].includes(service.get(id)!.state), ms, `job ${id} to finish`);
  return service.get(id)!;
}

test('a job runs through every stage to succeeded, with a render, timings and valid records', async (t) => {
  const { service, events, source, outputDir } = await setup(t);
  const { job, created } = await service.submit(sampleRequest(source, { parameters: { steps: 20 } }));
  assert.equal(created, true);
  assert.ok(['queued', 'running'].includes(job.state), job.state);
  assert.equal(job.settings.parameters.steps, 20);
  const done = await settled(service, job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.deepEqual(states(events, job.id), [
    'queued', 'running', 'running:probe', 'running:extract', 'running:invert', 'running:edit', 'running:decode', 'running:encode', 'succeeded:encode',
  ]);
  assert.equal(done.attempts, 1);
  assert.equal(done.progress.overall, 1);
  assert.deepEqual(Object.keys(done.timings).sort(), ['decode', 'edit', 'encode', 'extract', 'invert', 'probe']);
  assert.ok(done.result);
  assert.equal(path.dirname(done.result.output_path!), fs.realpathSync(outputDir));
  assert.match(path.basename(done.result.output_path!), new RegExp(`^clip_a-red-fox_${job.id.slice(0, 8)}\\.mov$`));
  assert.ok(fs.existsSync(done.result.output_path!));
  assert.deepEqual(fs.readdirSync(outputDir), [path.basename(done.result.output_path!)]);
  assert.equal(done.result.frame_count, 6);
  assert.equal(done.result.frame_rate, '10/1');
  assert.equal(done.result.duration_s, 0.6);
  JobRecord.parse(done);
  assert.ok(events.some((e) => e.type === 'job.preview' && e.job_id === job.id));
  assert.ok(events.some((e) => e.type === 'job.log' && e.job_id === job.id && /test pipeline/.test(e.message)));
  assert.equal(fs.readdirSync(path.join(path.dirname(outputDir), 'data', 'work')).length, 0, 'work folder cleaned');
});

test('progress reaches 1 only after the render exists; ETA is reported', async (t) => {
  const { service, events, source } = await setup(t, { media: { delayMs: 20 } });
  let fileExistedAtOne: boolean | null = null;
  service.on('job.state', ({ job: j }) => {
    if (j.progress.overall === 1) fileExistedAtOne = fs.existsSync(j.result!.output_path!);
  });
  const { job } = await service.submit(sampleRequest(source));
  const done = await settled(service, job.id);
  const progress = events.filter((e) => e.type === 'job.progress' && e.job_id === job.id);
  assert.ok(progress.length >= 6);
  for (const p of progress) assert.ok(p.type === 'job.progress' && p.overall < 1, 'no progress event says 1 before success');
  const final = events.filter((e) => e.type === 'job.state' && e.job.id === job.id).at(-1)!;
  assert.ok(final.type === 'job.state' && final.job.progress.overall === 1 && final.job.state === 'succeeded');
  assert.equal(fileExistedAtOne, true, 'the render existed when progress first said 1');
  const withEta = progress.filter((p) => p.type === 'job.progress' && p.eta_s !== null);
  assert.ok(withEta.length > 0, 'some progress carries an ETA');
  const overall = progress.map((p) => (p.type === 'job.progress' ? p.overall : 0));
  assert.deepEqual(overall, [...overall].sort((a, b) => a - b), 'monotonic');
});

for (const [clock, expected] of [['stands still', 2], ['runs an interval ahead at each reading', 20]] as const) {
  test(`previews are throttled per job: the clock ${clock}, ${expected} of 20 previews go out`, async (t) => {
    // The throttle reads the service's clock. Its interval is longer than the run, so its timer
    // never fires: a preview goes out at once only when the clock says the interval has passed,
    // and the held one (the newest) when the job ends.
    let ms = 0;
    const now = clock === 'stands still' ? () => ms : () => (ms += HOUR_MS);
    const { service, events, source } = await setup(t, { pipeline: 'delay=1&steps=20', previewIntervalMs: HOUR_MS, now });
    const { job } = await service.submit(sampleRequest(source));
    await settled(service, job.id);
    const sent = events.flatMap((e, i) => (e.type === 'job.preview' ? [i] : []));
    assert.equal(sent.length, expected);
    const succeeded = events.findIndex((e) => e.type === 'job.state' && e.job.state === 'succeeded');
    assert.ok(sent.at(-1)! < succeeded, 'the last preview went out before the final state');
  });
}

test('200 submissions at once: all persisted, run in FIFO order, none lost', async (t) => {
  const { service, events, source, dataDir } = await setup(t, { pipeline: 'delay=0&steps=1', media: { frames: 2 } });
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => service.submit(sampleRequest(source, { prompt: `fox ${i}`, range: { start_seconds: 0, end_seconds: 0.2 } }))));
  const submitMs = performance.now() - t0;
  assert.equal(new Set(results.map((r) => r.job.id)).size, 200);
  const persisted = fs.readFileSync(path.join(dataDir, 'jobs', 'jobs.jsonl'), 'utf8');
  for (const r of results) assert.ok(persisted.includes(r.job.id));
  await waitFor(() => service.list().every((j) => j.state === 'succeeded'), 120_000, 'all 200 jobs');
  // Simultaneous submissions are checked concurrently, so they are accepted in the order their
  // checks finish: jobs run in the order they were accepted (the list's order).
  const accepted = events.flatMap((e) => (e.type === 'job.state' && e.job.state === 'queued' ? [e.job.id] : []));
  const startOrder = events.flatMap((e) => (e.type === 'job.state' && e.job.state === 'running' && e.job.stage === null ? [e.job.id] : []));
  assert.deepEqual(startOrder, accepted, 'started in the order accepted');
  assert.deepEqual(service.list().map((j) => j.id), accepted, 'listed in the order accepted');
  assert.deepEqual(service.list().map((j) => j.request.prompt).sort(), results.map((_, i) => `fox ${i}`).sort());
  t.diagnostic(`200 submissions persisted in ${submitMs.toFixed(0)} ms`);
});

test('concurrency: never more than the configured number of jobs run at once', async (t) => {
  const { service, events, source } = await setup(t, { concurrency: 2, pipeline: 'delay=10&steps=2' });
  const ids = (await Promise.all([0, 1, 2, 3, 4].map(() => service.submit(sampleRequest(source))))).map((r) => r.job.id);
  let peak = 0;
  service.onEvent(() => (peak = Math.max(peak, service.queueCounts().running)));
  await waitFor(() => ids.every((id) => service.get(id)!.state === 'succeeded'), 30_000);
  assert.equal(peak, 2);
  assert.ok(events.length > 0);
});

for (const point of ['queued', 'probe', 'extract', 'invert', 'edit', 'decode', 'encode'] as const) {
  test(`cancel while ${point}: answered before the job stops, then state canceled, no output left`, { timeout: 60_000 }, async (t) => {
    // The stage at `point` (for 'queued': the blocker's probe) never ends on its own and sees the
    // abort only once the test releases it: the cancel can only answer without waiting for the
    // job to stop, and the job can only end by the abort (the timeout is a hang guard).
    const gate = releaseGate(t);
    const mediaStage = point === 'queued' ? 'probe' : point === 'probe' || point === 'extract' || point === 'encode' ? point : null;
    const { service, source, outputDir, dataDir } = await setup(t, {
      media: mediaStage ? { hold: { stage: mediaStage, release: gate.promise } } : {},
      pipeline: `delay=1&steps=2&hold=${point}&release=${encodeURIComponent(gate.file)}`,
    });
    const blocker = point === 'queued' ? (await service.submit(sampleRequest(source))).job : null;
    const { job } = await service.submit(sampleRequest(source));
    if (point === 'queued') {
      assert.equal(service.get(job.id)!.state, 'queued');
    } else {
      await waitFor(() => service.get(job.id)!.stage === point, 10_000, `stage ${point}`);
    }
    const answer = await service.cancel(job.id);
    assert.equal(answer.state, point === 'queued' ? 'canceled' : 'running', 'a running job is still held');
    gate.open();
    await waitFor(() => service.get(job.id)!.state === 'canceled', 10_000, 'canceled');
    const rec = service.get(job.id)!;
    assert.deepEqual(rec.error, { code: 'canceled', message: point === 'queued' ? 'canceled while queued' : `canceled during ${point}` });
    assert.ok(rec.progress.overall < 1);
    assert.equal(rec.result, null);
    if (blocker) await service.cancel(blocker.id);
    assert.deepEqual(fs.readdirSync(outputDir), [], 'no partial output');
    assert.equal(fs.existsSync(path.join(dataDir, 'work', job.id)), false, 'work folder removed');
    // Cancel again is harmless and returns the final record.
    assert.equal((await service.cancel(job.id)).state, 'canceled');
  });
}

// edit_clip.ts saves its checkpoint after each step without looking at the signal: a step whose
// model call was under way when the abort came still ends, and is saved, before the run ends.
for (const stop of ['cancel', 'shutdown'] as const) {
  test(`an edit step that ends after a ${stop} is saved before the run ends: ${stop === 'cancel' ? 'the canceled job\'s folder goes after it, nothing is left' : 'the paused job keeps it for its resume'}`, async (t) => {
    const { service, events, source, dataDir } = await setup(t, { pipeline: 'delay=1&steps=3&mode=checkpoint' });
    const { job } = await service.submit(sampleRequest(source));
    const workDir = path.join(dataDir, 'work', job.id);
    const checkpoint = path.join(workDir, 'cache', 'edit-checkpoint');
    // Step 2 is under way until the abort.
    await waitFor(() => fs.existsSync(path.join(checkpoint, 'step-1')), 10_000, 'step 1 saved');
    const savedAfterAbort = (e: ServerEventT) => e.type === 'job.log' && e.job_id === job.id && e.message === 'checkpoint: step 2 saved after the abort';
    if (stop === 'cancel') {
      await service.cancel(job.id);
      assert.equal((await settled(service, job.id)).state, 'canceled');
      await waitFor(() => events.some(savedAfterAbort), 10_000, `the step-2 log line in ${JSON.stringify(events.filter((e) => e.type === 'job.log').map((e) => e.message))}`);
      assert.equal(fs.existsSync(workDir), false, 'the folder went after the save: nothing is left in the data folder');
    } else {
      await service.close();
      assert.equal(service.get(job.id)!.state, 'queued');
      assert.ok(events.some(savedAfterAbort));
      assert.deepEqual(fs.readdirSync(checkpoint).sort(), ['step-1', 'step-2'], 'the finished step is kept for the resume');
    }
  });
}

test('idempotency: same key + same body returns the job; different body is a conflict', async (t) => {
  const { service, source } = await setup(t, { pipeline: 'delay=5&steps=1' });
  const req: JobRequest = sampleRequest(source, { idempotency_key: 'panel-1234' });
  const first = await service.submit(req);
  const again = await service.submit({ ...req, range: { start_seconds: 0, end_seconds: 0.4 } }); // same range in seconds
  assert.equal(again.created, false);
  assert.equal(again.job.id, first.job.id);
  await assert.rejects(service.submit({ ...req, prompt: 'a blue fox' }), (e: unknown) => {
    assert.ok(e instanceof JobServiceError);
    assert.equal(e.code, 'idempotency_conflict');
    assert.equal(e.status, 422);
    assert.equal(e.field, 'idempotency_key');
    assert.match(e.message, new RegExp(first.job.id));
    return true;
  });
  const [a, b] = await Promise.all([service.submit({ ...req, idempotency_key: 'race' }), service.submit({ ...req, idempotency_key: 'race' })]);
  assert.equal(a.job.id, b.job.id, 'concurrent retries with one key make one job');
  assert.equal([a.created, b.created].filter(Boolean).length, 1);
  assert.equal(service.list().length, 2);
});

test('delete: only finished jobs; with files removes the render, without keeps it', async (t) => {
  const { service, events, source } = await setup(t, { pipeline: 'delay=1&steps=1' });
  const a = (await service.submit(sampleRequest(source))).job;
  const b = (await service.submit(sampleRequest(source, { prompt: 'b' }))).job;
  await assert.rejects(service.delete(b.id), (e: unknown) => e instanceof JobServiceError && e.code === 'conflict');
  const doneA = await settled(service, a.id);
  const doneB = await settled(service, b.id);
  await service.delete(a.id);
  assert.equal(service.get(a.id), undefined);
  assert.ok(fs.existsSync(doneA.result!.output_path!), 'render kept without files');
  await service.delete(b.id, { files: true });
  assert.equal(fs.existsSync(doneB.result!.output_path!), false, 'render deleted with files');
  assert.deepEqual(events.filter((e) => e.type === 'job.deleted').map((e) => e.type === 'job.deleted' && e.job_id), [a.id, b.id]);
  await assert.rejects(service.delete(a.id), (e: unknown) => e instanceof JobServiceError && e.code === 'not_found' && e.status === 404);
});

test('delete with files never touches anything outside the output folder', async (t) => {
  const { service, source, dataDir } = await setup(t, { pipeline: 'delay=1&steps=1' });
  const job = (await service.submit(sampleRequest(source))).job;
  await settled(service, job.id);
  await service.close();
  // Tamper with the stored record so it points at the user's source file.
  const log = path.join(dataDir, 'jobs', 'jobs.jsonl');
  const tampered = fs.readFileSync(log, 'utf8').split(JSON.stringify(service.get(job.id)!.result!.output_path)).join(JSON.stringify(`${path.dirname(dataDir)}/renders/../clip.mov`));
  fs.writeFileSync(log, tampered);
  const again = new JobService({ dataDir, outputDir: path.join(path.dirname(dataDir), 'renders'), media: fakeMedia(), pipelineModule: pipeline('delay=1') });
  await again.start();
  t.after(() => again.close());
  await again.delete(job.id, { files: true });
  assert.ok(fs.existsSync(source), 'source untouched');
});

test('disk full on the output folder: failed with disk_full and no partial render visible', async (t) => {
  const { service, source, outputDir } = await setup(t, { media: { failEncodeWith: 'disk_full', frames: 8 } });
  const { job } = await service.submit(sampleRequest(source));
  const done = await settled(service, job.id);
  assert.equal(done.state, 'failed');
  assert.equal(done.error!.code, 'disk_full');
  assert.match(done.error!.message, /no space left/);
  assert.ok(done.progress.overall < 1);
  assert.deepEqual(fs.readdirSync(outputDir), []);
});

test('the daemon\'s default model is recorded at submit and passed to the run; a record stored without one runs with the default', async (t) => {
  const root = tempDir(t);
  const dataDir = path.join(root, 'data');
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'x');
  // A queued job recorded before jobs named their model.
  const old = sampleRecord({ request: sampleRequest(source) });
  assert.equal(old.settings.model, null);
  const store = new JobStore(path.join(dataDir, 'jobs'));
  await store.open();
  await store.put(old, { fingerprint: null, crashStages: [] });
  await store.close();

  const ran = new Map<string, string | null>();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const execute = async (ctx: RunJobContext) => {
    ran.set(ctx.job.id, ctx.job.settings.model);
    await released;
    throw new Error('not rendered in this test');
  };
  const service = new JobService({ dataDir, outputDir: path.join(root, 'o'), media: fakeMedia(), execute, defaultModel: '/models/house-style', concurrency: 3 });
  await service.start();
  t.after(() => service.close());
  const byDefault = (await service.submit(sampleRequest(source))).job;
  const named = (await service.submit(sampleRequest(source, { model: 'tiny-sd15' }))).job;
  assert.equal(byDefault.settings.model, '/models/house-style');
  assert.equal(named.settings.model, 'tiny-sd15');
  assert.equal(service.get(old.id)!.settings.model, null, 'the old record loads unchanged');
  await waitFor(() => ran.size === 3, 10_000, 'three runs');
  assert.deepEqual(Object.fromEntries(ran), { [old.id]: '/models/house-style', [byDefault.id]: '/models/house-style', [named.id]: 'tiny-sd15' });
  release();
});

test('the product pipeline: a job without a model, on a daemon without a default, fails with model_not_found at the invert stage', async (t) => {
  const root = tempDir(t);
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'x');
  const service = new JobService({ dataDir: path.join(root, 'd'), outputDir: path.join(root, 'o'), media: fakeMedia() });
  await service.start();
  t.after(() => service.close());
  const { job } = await service.submit(sampleRequest(source));
  const done = await settled(service, job.id);
  assert.equal(done.state, 'failed');
  assert.equal(done.stage, 'invert');
  assert.equal(done.error!.code, 'model_not_found');
  assert.match(done.error!.message, /no default model \(start it with `tokenflow serve --model/);
});

test('a crashing pipeline process fails the job with a clear message; the next job still runs', async (t) => {
  const { service, source } = await setup(t, { pipeline: 'delay=1&steps=3&mode=crash' });
  const a = (await service.submit(sampleRequest(source))).job;
  const b = (await service.submit(sampleRequest(source))).job;
  const doneA = await settled(service, a.id);
  assert.equal(doneA.error!.code, 'pipeline_failed');
  assert.match(doneA.error!.message, /pipeline process exited unexpectedly/);
  assert.equal((await settled(service, b.id)).state, 'failed');
});

test('submit validation (schema errors are refused before, by the server): unknown preset, missing source, range past the end', async (t) => {
  const { service, source } = await setup(t);
  await assert.rejects(service.submit(sampleRequest(source, { preset: 'nope' })), { code: 'bad_request', field: 'preset' });
  await assert.rejects(service.submit(sampleRequest(`${source}.missing`)), { code: 'media_invalid', field: 'source_path', status: 422 });
  await assert.rejects(service.submit(sampleRequest(source, { range: { start_seconds: 0.6, end_seconds: 1 } })), { code: 'media_invalid', field: 'range' });
  // Starts inside the clip but ends past it: refused at submit, not minutes later in extract.
  await assert.rejects(service.submit(sampleRequest(source, { range: { start_seconds: 0, end_seconds: 5 } })), (e: unknown) => {
    assert.ok(e instanceof JobServiceError);
    assert.equal(e.code, 'media_invalid');
    assert.equal(e.field, 'range');
    assert.match(e.message, /beyond the end of the clip/);
    return true;
  });
  assert.equal(service.list().length, 0);
  const withPreset = await service.submit(sampleRequest(source, { preset: 'winter' }));
  assert.match(withPreset.job.settings.prompt, /^a red fox, in winter/);
});

test('presets API: put, list, use in a job, delete', async (t) => {
  const { service, source } = await setup(t, { pipeline: 'delay=1&steps=1' });
  await service.presets.put('teal', PresetBody.parse({ description: 'Teal and orange', prompt: '{prompt}, teal and orange grade', parameters: { guidance_scale: 9 } }));
  assert.ok(service.presets.list().some((p) => p.name === 'teal' && !p.builtin));
  const { job } = await service.submit(sampleRequest(source, { preset: 'teal' }));
  assert.equal(job.settings.parameters.guidance_scale, 9);
  await service.presets.delete('teal');
  assert.equal(service.presets.get('teal'), undefined);
  assert.equal(service.get(job.id)!.settings.prompt, 'a red fox, teal and orange grade', 'the job keeps its resolved settings');
});

test('snapshot lists active jobs in queue order; close pauses the running job and restart resumes it', async (t) => {
  const root = tempDir(t);
  const dataDir = path.join(root, 'data');
  const first = await setup(t, { dataDir, pipeline: 'delay=30&steps=20' });
  const a = (await first.service.submit(sampleRequest(first.source))).job;
  const b = (await first.service.submit(sampleRequest(first.source))).job;
  await waitFor(() => first.service.get(a.id)!.stage === 'edit');
  assert.deepEqual(first.service.snapshot().map((j) => [j.id, j.state]), [[a.id, 'running'], [b.id, 'queued']]);
  assert.deepEqual(first.service.queueCounts(), { queued: 1, running: 1 });
  await first.service.close();
  const extractSeconds = first.service.get(a.id)!.timings.extract;
  assert.equal(typeof extractSeconds, 'number');
  const media = fakeMedia();
  const second = new JobService({ dataDir, outputDir: first.outputDir, media, pipelineModule: pipeline('delay=1&steps=2') });
  const events: ServerEventT[] = [];
  second.onEvent((e) => events.push(e));
  await second.start();
  t.after(() => second.close());
  const doneA = await settled(second, a.id);
  assert.equal(doneA.state, 'succeeded');
  assert.equal(doneA.attempts, 2);
  assert.equal(doneA.timings.extract, extractSeconds, 'extract was not redone (resumed after it)');
  assert.ok(events.some((e) => e.type === 'job.log' && e.job_id === a.id && /reusing 6 frames/.test(e.message)));
  assert.equal((await settled(second, b.id)).state, 'succeeded');
});

test('preview-only: the edited keyframes are written as PNG files, no video', async (t) => {
  const { service, source, outputDir } = await setup(t, { media: { frames: 5 } });
  const { job } = await service.submit(sampleRequest(source, { preview_only: true, parameters: { batch_size: 2 } }));
  const done = await settled(service, job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.result!.output_path, null);
  assert.deepEqual(done.result!.preview_paths.map((p) => path.basename(p)), [0, 2, 4].map((i) => `clip_a-red-fox_${job.id.slice(0, 8)}_frame${i}.png`));
  for (const p of done.result!.preview_paths) {
    assert.deepEqual(fs.readFileSync(p).subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  }
  assert.equal(fs.readdirSync(outputDir).length, 3);
  await service.delete(job.id, { files: true });
  assert.deepEqual(fs.readdirSync(outputDir), []);
});

test('group commit: a new state is shown and announced only after its fsync, and events keep the log order', async (t) => {
  const root = tempDir(t);
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'not really a movie');
  let gate: Promise<void> = Promise.resolve();
  let fsyncs = 0;
  const io: LogIo = {
    write: fsLogIo.write,
    fsync: async (fd) => {
      await gate;
      fsyncs++;
      return fsLogIo.fsync(fd);
    },
    truncate: fsLogIo.truncate,
  };
  const service = new JobService({ dataDir: path.join(root, 'data'), outputDir: path.join(root, 'renders'), media: fakeMedia(), pipelineModule: pipeline('delay=1&steps=2'), logIo: io });
  const events: ServerEventT[] = [];
  service.onEvent((e) => events.push(e));
  await service.start();
  t.after(() => service.close());
  let release!: () => void;
  gate = new Promise((resolve) => (release = resolve));
  const before = fsyncs;
  const submitted = service.submit(sampleRequest(source, { range: { start_seconds: 0, end_seconds: 0.6 } }));
  const logFile = path.join(root, 'data', 'jobs', 'jobs.jsonl');
  await waitFor(() => fs.readFileSync(logFile, 'utf8').includes('"op":"put"'), 5_000, 'the line to be written');
  assert.deepEqual(service.list(), [], 'not shown before its fsync');
  assert.equal(events.length, 0, 'not announced before its fsync');
  release();
  const { job } = await submitted;
  assert.equal(fsyncs, before + 1);
  assert.equal(events[0]?.type, 'job.state');
  await waitFor(() => service.get(job.id)!.state === 'succeeded', 15_000, 'the job');
  // Every progress event of a stage comes after the job.state that announced the stage.
  const announced = new Set<string>();
  for (const e of events) {
    if (e.type === 'job.state' && e.job.stage) announced.add(e.job.stage);
    if (e.type === 'job.progress') assert.ok(announced.has(e.stage), `progress of ${e.stage} before its job.state`);
  }
});

test('an executor that hands jobs on (the farm): queued until a worker takes it, running on that worker, queued again when it lets go, canceled while queued', async (t) => {
  const root = tempDir(t);
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'not really a movie');
  // A farm's queue in miniature: each handed-on job waits for the test to play a worker.
  const handed = new Map<string, { ctx: RunJobContext; resolve: (r: JobResult) => void }>();
  const execute = (ctx: RunJobContext) =>
    new Promise<JobResult>((resolve, reject) => {
      handed.set(ctx.job.id, { ctx, resolve });
      ctx.signal.addEventListener('abort', () => reject(new DOMException('job aborted', 'AbortError')), { once: true });
    });
  const service = new JobService({ dataDir: path.join(root, 'data'), outputDir: path.join(root, 'renders'), media: fakeMedia(), execute, queuedUntilTaken: true, concurrency: 100 });
  const events: ServerEventT[] = [];
  service.onEvent((e) => {
    ServerEvent.parse(e);
    events.push(e);
  });
  await service.start();
  t.after(() => service.close());
  const a = (await service.submit(sampleRequest(source))).job;
  const b = (await service.submit(sampleRequest(source))).job;
  await waitFor(() => handed.has(a.id) && handed.has(b.id));
  await waitFor(() => service.get(a.id)!.attempts === 1 && service.get(b.id)!.attempts === 1);
  assert.deepEqual([service.get(a.id)!.state, service.get(b.id)!.state], ['queued', 'queued']);
  assert.deepEqual(service.queueCounts(), { queued: 2, running: 0 });
  assert.deepEqual(service.snapshot().map((j) => [j.id, j.state]), [[a.id, 'queued'], [b.id, 'queued']]);

  const ctx = handed.get(a.id)!.ctx;
  ctx.events.taken!('gpu-1');
  ctx.events.stageStart('probe');
  await waitFor(() => service.get(a.id)!.state === 'running');
  assert.equal(service.get(a.id)!.worker, 'gpu-1');
  assert.deepEqual(service.queueCounts(), { queued: 1, running: 1 });
  assert.deepEqual(service.snapshot().map((j) => [j.id, j.state]), [[a.id, 'running'], [b.id, 'queued']]);
  ctx.events.requeued!('released');
  await waitFor(() => service.get(a.id)!.state === 'queued');
  ctx.events.taken!('gpu-2');
  await waitFor(() => service.get(a.id)!.worker === 'gpu-2');
  handed.get(a.id)!.resolve({
    output_path: path.join(root, 'renders', 'a.mov'), preview_paths: [], frame_count: 6, width: 64, height: 48,
    frame_rate: '24/1', fps: 24, duration_s: 0.25, codec: 'prores', has_audio: false,
  });
  const done = await settled(service, a.id);
  assert.deepEqual([done.state, done.worker], ['succeeded', 'gpu-2']);
  assert.deepEqual(states(events, a.id), ['queued', 'running', 'running:probe', 'queued:probe', 'running:probe', 'succeeded:probe']);

  // b never left the farm's queue: its cancel says so.
  await service.cancel(b.id);
  const canceled = await settled(service, b.id);
  assert.deepEqual([canceled.state, canceled.error?.message, canceled.worker], ['canceled', 'canceled while queued', undefined]);
});

test('an executor that keeps jobs elsewhere: each active job\'s latest preview for late clients; forget once its outcome is recorded and when it is deleted, a failure only logged', async (t) => {
  const root = tempDir(t);
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'not really a movie');
  const handed = new Map<string, { ctx: RunJobContext; resolve: (r: JobResult) => void }>();
  const execute = (ctx: RunJobContext) => new Promise<JobResult>((resolve) => handed.set(ctx.job.id, { ctx, resolve }));
  /** Each forget call: the job and its state in the service at that moment (undefined: deleted). */
  const forgotten: [string, string | undefined][] = [];
  let forgetFails = false;
  const forget = async (id: string) => {
    forgotten.push([id, service.get(id)?.state]);
    if (forgetFails) throw new Error('Redis is away');
  };
  const warnings: string[] = [];
  const service = new JobService({
    dataDir: path.join(root, 'data'), outputDir: path.join(root, 'renders'), media: fakeMedia(), execute, forget, concurrency: 2, previewIntervalMs: 0,
    log: (level, message) => void (level === 'warn' && warnings.push(message)),
  });
  await service.start();
  t.after(() => service.close());
  const a = (await service.submit(sampleRequest(source))).job;
  const b = (await service.submit(sampleRequest(source))).job;
  await waitFor(() => handed.has(a.id) && handed.has(b.id));
  const preview = (index: number) => ({ index, mime: 'image/png' as const, data: new Uint8Array([index]), width: 1, height: 1 });
  handed.get(a.id)!.ctx.events.preview(preview(1));
  handed.get(a.id)!.ctx.events.preview(preview(4));
  assert.deepEqual(service.latestPreviews().map((p) => [p.job_id, p.index, p.data]), [[a.id, 4, Buffer.from([4]).toString('base64')]]);

  handed.get(a.id)!.resolve({
    output_path: path.join(root, 'renders', 'a.mov'), preview_paths: [], frame_count: 6, width: 64, height: 48,
    frame_rate: '24/1', fps: 24, duration_s: 0.25, codec: 'prores', has_audio: false,
  });
  await settled(service, a.id);
  await waitFor(() => forgotten.length === 1);
  assert.deepEqual(forgotten, [[a.id, 'succeeded']]);
  assert.deepEqual(service.latestPreviews(), [], 'a finished job is not in the hello, nor its preview');

  forgetFails = true;
  await service.delete(a.id);
  await waitFor(() => warnings.length === 1);
  assert.deepEqual(forgotten, [[a.id, 'succeeded'], [a.id, undefined]]);
  assert.match(warnings[0], new RegExp(`job ${a.id.slice(0, 8)}: could not remove what the farm keeps of it \\(it expires by itself\\): Redis is away`));
  handed.get(b.id)!.resolve({
    output_path: path.join(root, 'renders', 'b.mov'), preview_paths: [], frame_count: 6, width: 64, height: 48,
    frame_rate: '24/1', fps: 24, duration_s: 0.25, codec: 'prores', has_audio: false,
  });
  await settled(service, b.id);
});
