import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobStore } from '../../companion/jobs/job_store.ts';
import { recoverRunningJobs } from '../../companion/jobs/recovery.ts';
import { JobRequest } from '../../shared/jobs.ts';
import { sampleRecord, sampleRequest, tempDir } from './helpers.ts';

const meta = { fingerprint: null, crashStages: [] };

test('records survive a reopen, in submission order, with the latest version of each', (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  store.open();
  const a = sampleRecord();
  const b = sampleRecord();
  store.put(a, meta);
  store.put(b, meta);
  store.put({ ...a, state: 'running', stage: 'extract', attempts: 1 }, meta);
  store.close();
  const again = new JobStore(dir);
  assert.deepEqual(again.open().warnings, []);
  assert.deepEqual(again.all().map((s) => [s.job.id, s.job.state]), [[a.id, 'running'], [b.id, 'queued']]);
  assert.equal(again.get(a.id)!.job.stage, 'extract');
  again.close();
});

test('delete removes the record and its idempotency key, durably', (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  store.open();
  const job = sampleRecord({ request: JobRequest.parse(sampleRequest('/m/a.mov', { idempotency_key: 'key-1' })) });
  store.put(job, { fingerprint: 'f', crashStages: [] });
  assert.equal(store.getByIdempotencyKey('key-1')!.job.id, job.id);
  store.delete(job.id);
  assert.equal(store.getByIdempotencyKey('key-1'), undefined);
  store.close();
  const again = new JobStore(dir);
  again.open();
  assert.equal(again.all().length, 0);
  again.close();
});

test('a torn last record (kill -9 mid-write) is dropped with a warning; earlier ones kept', (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  store.open();
  const a = sampleRecord();
  store.put(a, meta);
  store.close();
  const line = JSON.stringify({ v: 1, op: 'put', job: { ...a, state: 'running' }, meta });
  fs.appendFileSync(path.join(dir, 'jobs.jsonl'), line.slice(0, line.length / 2));
  const again = new JobStore(dir);
  const { warnings } = again.open();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /partial last line/);
  assert.equal(again.get(a.id)!.job.state, 'queued');
  again.close();
});

test('the log is compacted to one line per job', (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir, 10);
  store.open();
  const a = sampleRecord();
  for (let i = 0; i < 25; i++) store.put({ ...a, attempts: i }, meta);
  const lines = fs.readFileSync(path.join(dir, 'jobs.jsonl'), 'utf8').trim().split('\n');
  assert.ok(lines.length <= 10, `${lines.length} lines`);
  store.close();
  const again = new JobStore(dir);
  again.open();
  assert.equal(again.get(a.id)!.job.attempts, 24);
  assert.equal(fs.readFileSync(path.join(dir, 'jobs.jsonl'), 'utf8').trim().split('\n').length, 1);
  again.close();
});

test('a store is locked against a second opener, and a dead holder’s lock is taken over', (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  store.open();
  assert.throws(() => new JobStore(dir).open(), /already open in this process/);
  store.close();
  fs.writeFileSync(path.join(dir, 'jobs.lock'), '1'); // pid 1 is alive: another daemon
  assert.throws(() => new JobStore(dir).open(), /in use by another daemon \(pid 1\)/);
  fs.writeFileSync(path.join(dir, 'jobs.lock'), '2147483646'); // no such process
  const again = new JobStore(dir);
  again.open();
  again.close();
  assert.equal(fs.existsSync(path.join(dir, 'jobs.lock')), false);
});

test('recovery: running jobs are re-queued to resume, and interrupted at the attempt cap', () => {
  const now = new Date().toISOString();
  const running = sampleRecord({ state: 'running', stage: 'edit', attempts: 1 });
  const thirdCrash = sampleRecord({ state: 'running', stage: 'edit', attempts: 3 });
  const mixed = sampleRecord({ state: 'running', stage: 'encode', attempts: 3 });
  const queued = sampleRecord();
  const done = sampleRecord({ state: 'succeeded' });
  const out = recoverRunningJobs(
    [
      { job: running, meta },
      { job: thirdCrash, meta: { fingerprint: null, crashStages: ['edit', 'edit'] } },
      { job: mixed, meta: { fingerprint: null, crashStages: ['extract', 'edit'] } },
      { job: queued, meta },
      { job: done, meta },
    ],
    3,
    now,
  );
  assert.equal(out.length, 3);
  assert.equal(out[0].job.state, 'queued');
  assert.equal(out[0].job.stage, 'edit', 'stage kept so the runner resumes');
  assert.deepEqual(out[0].meta.crashStages, ['edit']);
  assert.match(out[0].note, /stopped during edit/);
  assert.equal(out[1].job.state, 'interrupted');
  assert.deepEqual(out[1].job.error, { code: 'interrupted', message: 'daemon stopped during edit 3 times' });
  assert.equal(out[2].job.state, 'interrupted');
  assert.match(out[2].job.error!.message, /daemon stopped 3 times while this job ran \(during extract, edit, encode\)/);
});
