import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobStore } from '../../companion/jobs/job_store.ts';
import { fsLogIo, type LogIo } from '../../companion/jobs/jsonl_log.ts';
import { JobRequest } from '../../shared/jobs.ts';
import { sampleRecord, sampleRequest, tempDir } from './helpers.ts';

const meta = { fingerprint: null, crashStages: [] };

test('records survive a reopen, in submission order, with the latest version of each', async (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  await store.open();
  const a = sampleRecord();
  const b = sampleRecord();
  const puts = [store.put(a, meta), store.put(b, meta), store.put({ ...a, state: 'running', stage: 'extract', attempts: 1 }, meta)];
  assert.equal(store.latest(a.id)!.job.state, 'running', 'the writer sees its change at once');
  assert.equal(store.get(a.id), undefined, 'readers only once it is durable');
  await Promise.all(puts);
  assert.equal(store.get(a.id)!.job.state, 'running');
  await store.close();
  const again = new JobStore(dir);
  assert.deepEqual((await again.open()).warnings, []);
  assert.deepEqual(again.all().map((s) => [s.job.id, s.job.state]), [[a.id, 'running'], [b.id, 'queued']]);
  assert.equal(again.get(a.id)!.job.stage, 'extract');
  await again.close();
});

test('an in-memory change made while the put before it is on its way to the disk outlives that put\'s commit', async (t) => {
  const store = new JobStore(tempDir(t));
  await store.open();
  t.after(() => store.close());
  const a = sampleRecord();
  const put = store.put({ ...a, state: 'running', stage: 'extract' }, meta);
  store.setVolatile({ ...store.latest(a.id)!.job, timings: { extract: 1.5 } });
  await put;
  assert.deepEqual([store.latest(a.id)!.job.timings, store.get(a.id)!.job.timings], [{ extract: 1.5 }, { extract: 1.5 }]);
  assert.equal(store.get(a.id)!.job.state, 'running');
});

test('delete removes the record and its idempotency key, durably', async (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  await store.open();
  const job = sampleRecord({ request: JobRequest.parse(sampleRequest('/m/a.mov', { idempotency_key: 'key-1' })) });
  await store.put(job, { fingerprint: 'f', crashStages: [] });
  assert.equal(store.getByIdempotencyKey('key-1')!.job.id, job.id);
  await store.delete(job.id);
  assert.equal(store.getByIdempotencyKey('key-1'), undefined);
  await store.close();
  const again = new JobStore(dir);
  await again.open();
  assert.equal(again.all().length, 0);
  await again.close();
});

test('a torn last record (kill -9 mid-write) is dropped with a warning; earlier ones kept', async (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  await store.open();
  const a = sampleRecord();
  await store.put(a, meta);
  await store.close();
  const line = JSON.stringify({ v: 1, op: 'put', job: { ...a, state: 'running' }, meta });
  fs.appendFileSync(path.join(dir, 'jobs.jsonl'), line.slice(0, line.length / 2));
  const again = new JobStore(dir);
  const { warnings } = await again.open();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /partial last line/);
  assert.equal(again.get(a.id)!.job.state, 'queued');
  await again.close();
});

test('a damaged middle line: backup kept, the job named, its older record kept, other jobs intact', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'jobs.jsonl');
  const a = sampleRecord();
  const b = sampleRecord();
  const c = sampleRecord();
  const put = (job: unknown) => JSON.stringify({ v: 1, op: 'put', job, meta });
  const lines = [
    put(a),
    put(b),
    put({ ...a, state: 'running', stage: 'extract', attempts: 1, progress: { ...a.progress, overall: 'half' } }), // schema error
    put(c).slice(0, 150) + '#garbage#' + put(c).slice(160), // not JSON: only the id can be read
    put(b),
  ];
  const original = `${lines.join('\n')}\n`;
  fs.writeFileSync(file, original);
  const store = new JobStore(dir);
  const { warnings } = await store.open();
  assert.equal(warnings.length, 3, warnings.join('\n'));
  assert.equal(warnings[0], `${file} line 3 is damaged (field "job.progress.overall": Invalid input: expected number, received string): job ${a.id} keeps its other record (state queued, updated ${a.updated_at})`);
  assert.match(warnings[1], new RegExp(`line 4 is damaged \\(.*JSON.*\\): job ${c.id} has no other record and is lost$`));
  const backups = fs.readdirSync(dir).filter((f) => f.startsWith('jobs.jsonl.bad-'));
  assert.equal(backups.length, 1);
  assert.equal(warnings[2], `the job log as it was is kept in ${path.join(dir, backups[0])}`);
  assert.equal(fs.readFileSync(path.join(dir, backups[0]), 'utf8'), original, 'the backup is the log before any rewrite');
  assert.deepEqual(store.all().map((s) => [s.job.id, s.job.state]), [[a.id, 'queued'], [b.id, 'queued']]);
  await store.close();
  // The compacted log replays to the same state, with no new warning and no second backup.
  const again = new JobStore(dir);
  assert.deepEqual((await again.open()).warnings, []);
  assert.deepEqual(again.all().map((s) => s.job), [a, b]);
  await again.close();
  assert.equal(fs.readdirSync(dir).filter((f) => f.startsWith('jobs.jsonl.bad-')).length, 1);
});

test('changes the log refuses (disk full) are dropped: memory stays what the log holds', async (t) => {
  const dir = tempDir(t);
  let full = false;
  const io: LogIo = {
    write: async (fd, data) => {
      if (!full) return fsLogIo.write(fd, data);
      await fsLogIo.write(fd, data.subarray(0, 10));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
    fsync: fsLogIo.fsync,
    truncate: fsLogIo.truncate,
  };
  const store = new JobStore(dir, { io });
  await store.open();
  const a = sampleRecord();
  const b = sampleRecord();
  await store.put(a, meta);
  await store.put(b, meta);
  store.setVolatile({ ...b, progress: { ...b.progress, overall: 0.5 } });
  full = true;
  const keyed = sampleRecord({ request: JobRequest.parse(sampleRequest('/m/a.mov', { idempotency_key: 'k' })) });
  const results = await Promise.allSettled([store.put({ ...a, state: 'running', attempts: 1 }, meta), store.put(keyed, meta), store.delete(b.id)]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
  assert.equal(store.get(a.id)!.job.state, 'queued');
  assert.equal(store.latest(a.id)!.job.state, 'queued', 'the refused change is dropped for the writer too');
  assert.equal(store.latest(keyed.id), undefined);
  assert.equal(store.getByIdempotencyKey('k'), undefined);
  assert.equal(store.latest(b.id)!.job.id, b.id, 'the refused delete is undone');
  assert.deepEqual(store.all().map((s) => s.job.id), [a.id, b.id]);
  full = false;
  await store.close();
  const again = new JobStore(dir);
  assert.deepEqual((await again.open()).warnings, []);
  assert.deepEqual(again.all().map((s) => s.job), [a, b], 'the log replays to the state memory showed');
  await again.close();
});

test('the log is compacted to one line per job', async (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir, { compactAfter: 10 });
  await store.open();
  const a = sampleRecord();
  for (let i = 0; i < 25; i++) await store.put({ ...a, attempts: i }, meta);
  const lines = fs.readFileSync(path.join(dir, 'jobs.jsonl'), 'utf8').trim().split('\n');
  assert.ok(lines.length <= 10, `${lines.length} lines`);
  await store.close();
  const again = new JobStore(dir);
  await again.open();
  assert.equal(again.get(a.id)!.job.attempts, 24);
  assert.equal(fs.readFileSync(path.join(dir, 'jobs.jsonl'), 'utf8').trim().split('\n').length, 1);
  await again.close();
});

test('a store is locked against a second opener, and a dead holder’s lock is taken over', async (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  await store.open();
  await assert.rejects(new JobStore(dir).open(), /already open in this process/);
  await store.close();
  fs.writeFileSync(path.join(dir, 'jobs.lock'), '1'); // pid 1 is alive: another daemon
  await assert.rejects(new JobStore(dir).open(), /in use by another daemon \(pid 1\)/);
  fs.writeFileSync(path.join(dir, 'jobs.lock'), '2147483646'); // no such process
  const again = new JobStore(dir);
  await again.open();
  await again.close();
  assert.equal(fs.existsSync(path.join(dir, 'jobs.lock')), false);
});
