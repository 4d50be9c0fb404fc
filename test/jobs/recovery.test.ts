// What a restarted daemon does with the jobs the stopped one left: the new records of running
// jobs, recorded and logged at start-up with their partial outputs removed, and the work
// folders no queued job will use again removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { LogLevel } from '../../shared/events.ts';
import type { JobRecord } from '../../shared/jobs.ts';
import { JobStore } from '../../companion/jobs/job_store.ts';
import { recordRecoveries, recoverRunningJobs, removeOrphanWorkDirs, type RecoveryHost } from '../../companion/jobs/recovery.ts';
import { sampleRecord, tempDir } from './helpers.ts';

const meta = { fingerprint: null, crashStages: [] };

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

test('recovery of a farm daemon (it only follows its jobs): its stops are not counted against the job, which is followed again', () => {
  const now = new Date().toISOString();
  const followed = sampleRecord({ state: 'running', stage: 'edit', attempts: 3 });
  const crashStages = ['edit', 'edit'] as const;
  const out = recoverRunningJobs([{ job: followed, meta: { fingerprint: null, crashStages: [...crashStages] } }, { job: sampleRecord(), meta }], 3, now, true);
  assert.equal(out.length, 1);
  assert.equal(out[0].job.state, 'queued');
  assert.equal(out[0].job.stage, 'edit');
  assert.equal(out[0].job.error, null);
  assert.deepEqual(out[0].meta.crashStages, crashStages, 'nothing counted');
  assert.match(out[0].note, /following it again/);
});

/** A host over `store` that notes what it is told; storageError wraps the error it is given. */
function host(store: RecoveryHost['store']) {
  const logged: Array<[LogLevel, string]> = [];
  const leftovers: string[] = [];
  const h: RecoveryHost = {
    store,
    maxAttempts: 3,
    followsOnly: false,
    log: (level, message) => logged.push([level, message]),
    storageError: (err, what) => new Error(`${what}: ${(err as Error).message}`),
    removeLeftovers: (job) => leftovers.push(job.id),
  };
  return { h, logged, leftovers };
}

test('at start-up the recovered records are committed to the job log, logged, and their partial outputs removed', async (t) => {
  const dir = tempDir(t);
  const store = new JobStore(dir);
  await store.open();
  const resumed = sampleRecord({ state: 'running', stage: 'edit', attempts: 1 });
  const givenUp = sampleRecord({ state: 'running', stage: 'encode', attempts: 3 });
  const queued = sampleRecord();
  await store.put(resumed, meta);
  await store.put(givenUp, { fingerprint: null, crashStages: ['encode', 'encode'] });
  await store.put(queued, meta);
  const { h, logged, leftovers } = host(store);
  await recordRecoveries(h, '2026-01-01T00:00:00.000Z');
  await store.close();

  const reopened = new JobStore(dir);
  await reopened.open();
  t.after(() => reopened.close());
  const state = (job: JobRecord) => reopened.get(job.id)!;
  assert.deepEqual([resumed, givenUp, queued].map((j) => state(j).job.state), ['queued', 'interrupted', 'queued']);
  assert.equal(state(resumed).job.updated_at, '2026-01-01T00:00:00.000Z');
  assert.deepEqual(state(resumed).meta.crashStages, ['edit']);
  assert.deepEqual(state(queued), { job: queued, meta });
  assert.deepEqual(logged, [
    ['info', `job ${resumed.id}: the daemon stopped during edit (stop 1; given up at 3); queued to resume from the last completed stage`],
    ['warn', `job ${givenUp.id}: not resumed: daemon stopped during encode 3 times`],
  ]);
  assert.deepEqual(leftovers, [resumed.id, givenUp.id]);
});

test('a recovery the job log cannot take stops the start-up with the storage error; nothing is logged or removed', async () => {
  const running = sampleRecord({ state: 'running', stage: 'invert', attempts: 1 });
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const { h, logged, leftovers } = host({ all: () => [{ job: running, meta }], put: () => Promise.reject(full) });
  await assert.rejects(recordRecoveries(h), { message: `could not record job ${running.id}'s recovery: ENOSPC: no space left on device, write` });
  assert.deepEqual(logged, []);
  assert.deepEqual(leftovers, []);
});

test('work folders: only the queued jobs\' are kept', (t) => {
  const work = tempDir(t);
  for (const name of ['queued-1', 'finished', 'deleted', 'queued-2']) fs.mkdirSync(path.join(work, name, 'frames'), { recursive: true });
  fs.writeFileSync(path.join(work, 'stray.tmp'), 'x');
  removeOrphanWorkDirs(work, ['queued-2', 'queued-1', 'never-started']);
  assert.deepEqual(fs.readdirSync(work).sort(), ['queued-1', 'queued-2']);
  assert.deepEqual(fs.readdirSync(path.join(work, 'queued-1')), ['frames']);
});
