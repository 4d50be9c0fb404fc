// A full data disk under the job service: the job log's writes fail with ENOSPC after landing
// part of the line (what a full disk does), while the fake media and the test pipeline run.
// Every refusal is a clean 507 disk_full naming the folder, no job is left running with no
// worker, and the log replays to exactly the state the service showed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobServiceError } from '../../companion/jobs/errors.ts';
import { JobStore } from '../../companion/jobs/job_store.ts';
import { fsLogIo, type LogIo } from '../../companion/jobs/jsonl_log.ts';
import { JobService } from '../../companion/jobs/service.ts';
import type { ServerEvent } from '../../shared/events.ts';
import { PresetBody } from '../../shared/presets.ts';
import { fakeMedia, type FakeMediaOptions } from './doubles/fake_media.ts';
import { sampleRequest, tempDir, waitFor } from './helpers.ts';

const pipeline = (query: string) => new URL(`./doubles/invert_pipeline.ts?${query}`, import.meta.url);
/** The fake clip's whole length (6 frames at 10 fps). */
const range = { start_seconds: 0, end_seconds: 0.6 };

/** The job log's disk: `full()` fails every write until `free()`; `failNext(n)` the next n only. */
function fillableDisk() {
  let failing = 0;
  const io: LogIo = {
    async write(fd, data) {
      if (failing <= 0) return fsLogIo.write(fd, data);
      failing--;
      await fsLogIo.write(fd, data.subarray(0, Math.ceil(data.length / 3)));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    },
    fsync: fsLogIo.fsync,
    truncate: fsLogIo.truncate,
  };
  return {
    io,
    full: () => void (failing = Infinity),
    failNext: (n: number) => void (failing = n),
    free: () => void (failing = 0),
  };
}

async function setup(t: { after(fn: () => void | Promise<void>): void }, pipelineQuery = 'delay=1&steps=2', media: FakeMediaOptions = {}) {
  const root = tempDir(t);
  const dataDir = path.join(root, 'data');
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'not really a movie');
  const disk = fillableDisk();
  const service = new JobService({
    dataDir,
    outputDir: path.join(root, 'renders'),
    media: fakeMedia({ delayMs: 5, ...media }),
    pipelineModule: pipeline(pipelineQuery),
    logIo: disk.io,
  });
  const events: ServerEvent[] = [];
  service.onEvent((e) => events.push(e));
  await service.start();
  t.after(() => service.close());
  return { service, disk, dataDir, source, events };
}

/** What a restart would find: the log replayed by a fresh store (after the service closed). */
async function replayed(dataDir: string) {
  const store = new JobStore(path.join(dataDir, 'jobs'));
  const { warnings } = await store.open();
  const jobs = store.all().map((s) => s.job);
  await store.close();
  return { jobs, warnings };
}

const isDiskFull = (dataDir: string) => (e: unknown) => {
  assert.ok(e instanceof JobServiceError, String(e));
  assert.equal(e.code, 'disk_full');
  assert.equal(e.status, 507);
  assert.ok(e.message.includes(path.join(dataDir, 'jobs')), e.message);
  return true;
};

test('a submission the log cannot take is a 507 disk_full naming the folder, and leaves no trace', async (t) => {
  const { service, disk, dataDir, source, events } = await setup(t);
  const logFile = path.join(dataDir, 'jobs', 'jobs.jsonl');
  const before = fs.readFileSync(logFile, 'utf8');
  disk.full();
  await assert.rejects(service.submit(sampleRequest(source, { range })), isDiskFull(dataDir));
  await assert.rejects(service.submit(sampleRequest(source, { range, idempotency_key: 'k' })), isDiskFull(dataDir));
  assert.deepEqual(service.list(), []);
  assert.deepEqual(service.queueCounts(), { queued: 0, running: 0 });
  assert.deepEqual(events.filter((e) => e.type === 'job.state'), [], 'nothing announced');
  assert.equal(fs.readFileSync(logFile, 'utf8'), before, 'the log is as it was: no fragment');
  disk.free();
  const { job, created } = await service.submit(sampleRequest(source, { range, idempotency_key: 'k' }));
  assert.equal(created, true, 'the refused key was not taken');
  assert.equal((await waitForFinal(service, job.id)).state, 'succeeded');
  const shown = service.list();
  await service.close();
  const { jobs, warnings } = await replayed(dataDir);
  assert.deepEqual(warnings, []);
  assert.deepEqual(jobs, shown);
});

test('a running job whose stage change cannot be recorded stops and fails with disk_full, never stuck running', async (t) => {
  const { service, disk, dataDir, source } = await setup(t, 'delay=30&steps=10');
  const { job } = await service.submit(sampleRequest(source, { range }));
  await waitFor(() => service.get(job.id)?.stage === 'invert', 10_000, 'invert');
  // The next stage change (edit) hits the full disk; the outcome after it fits again.
  disk.failNext(1);
  const done = await waitForFinal(service, job.id);
  assert.equal(done.state, 'failed');
  assert.equal(done.error!.code, 'disk_full');
  assert.match(done.error!.message, new RegExp(`the data folder ${escape(path.join(dataDir, 'jobs'))} is full`));
  assert.equal(service.queueCounts().running, 0);
  assert.equal(fs.existsSync(path.join(dataDir, 'work', job.id)), false, 'work folder removed');
  const shown = service.list();
  await service.close();
  assert.deepEqual((await replayed(dataDir)).jobs, shown);
});

test('an outcome that cannot be recorded: the job keeps its logged record, the queue waits, cancel says 507 until there is room', async (t) => {
  // The encode waits until the disk is full: the outcome is the first write that meets it (its
  // 30 ms alone could end, and the success be recorded, before a loaded machine fills the disk).
  let releaseEncode!: () => void;
  const encodeGate = new Promise<void>((resolve) => (releaseEncode = resolve));
  const { service, disk, dataDir, source } = await setup(t, 'delay=20&steps=4', { encodeGate });
  const first = (await service.submit(sampleRequest(source, { range }))).job;
  const second = (await service.submit(sampleRequest(source, { range, prompt: 'second' }))).job;
  await waitFor(() => service.get(first.id)?.stage === 'encode', 20_000, 'encode');
  disk.full();
  releaseEncode();
  await waitFor(() => service.queueCounts().running === 0, 20_000, 'the first job to stop');
  const stuck = service.get(first.id)!;
  assert.equal(stuck.state, 'running', 'what the log holds');
  assert.equal(stuck.stage, 'encode');
  assert.equal(service.get(second.id)!.state, 'queued', 'no new job starts while outcomes cannot be recorded');
  await assert.rejects(service.cancel(first.id), isDiskFull(dataDir));
  await assert.rejects(service.cancel(second.id), isDiskFull(dataDir));
  assert.equal(service.get(second.id)!.state, 'queued');
  assert.deepEqual(service.snapshot().map((j) => j.id), [first.id, second.id], 'the refused cancel kept its place in the queue');
  disk.free();
  // Cancel records the outcome the job really had at once (no wait for the retry timer).
  assert.equal((await service.cancel(first.id)).state, 'succeeded');
  assert.equal((await waitForFinal(service, second.id)).state, 'succeeded', 'the queue moves again');
  const shown = service.list();
  await service.close();
  assert.deepEqual((await replayed(dataDir)).jobs, shown);
});

test('presets: a write that fails on a full disk is a 507 and leaves no temp file', async (t) => {
  const { service, dataDir } = await setup(t);
  const writeSync = fs.writeSync;
  t.mock.method(fs, 'writeSync', () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  });
  await assert.rejects(service.presets.put('teal', PresetBody.parse({ description: 'Teal', prompt: '{prompt}, teal' })), isDiskFull(dataDir));
  (fs.writeSync as unknown as { mock: { restore(): void } }).mock.restore();
  assert.equal(fs.writeSync, writeSync);
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'jobs')).filter((f) => f.includes('.tmp-')), []);
  assert.equal(service.presets.get('teal'), undefined);
  await service.presets.put('teal', PresetBody.parse({ description: 'Teal', prompt: '{prompt}, teal' }));
  assert.equal(service.presets.get('teal')!.name, 'teal');
});

async function waitForFinal(service: JobService, id: string) {
  await waitFor(() => ['succeeded', 'failed', 'canceled', 'interrupted'].includes(service.get(id)!.state), 30_000, `job ${id} to finish`);
  return service.get(id)!;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
