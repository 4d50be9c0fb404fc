// The daemon under load: health, job reads and cancel are answered while a CPU-bound pipeline
// runs, and 200 simultaneous submissions are all accepted, stored and announced. How fast they
// are answered is measured by `npm run bench -- daemon`, not asserted here (no timed tests).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobListResponse, JobSubmitResponse } from '../../shared/jobs.ts';
import { api, connectEvents, jobRequest, startTestDaemon, waitFor } from './helpers.ts';

test('health, job reads and cancel are answered while a CPU-bound job runs', async (t) => {
  // Each pipeline call spins the CPU for 25 ms in the worker; 3 x 200 calls ≈ 15 s of compute.
  const d = await startTestDaemon(t, { pipeline: 'spin=25&calls=200' });
  const events = await connectEvents(d);
  const { job } = (await api(d, 'POST', '/v1/jobs', jobRequest(d.clip))).json;
  await events.next((m) => m.type === 'job.progress' && m.job_id === job.id && m.stage === 'invert' && m.done >= 2, 30_000);

  const timings: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    const res = await api(d, 'GET', i % 2 === 0 ? '/v1/health' : `/v1/jobs/${job.id}`);
    timings.push(performance.now() - t0);
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(d.jobs.get(job.id)?.state, 'running', 'the job was running throughout');
  const worst = Math.max(...timings);
  const sorted = [...timings].sort((a, b) => a - b);
  t.diagnostic(`latency while busy: median ${sorted[20].toFixed(1)} ms, worst ${worst.toFixed(1)} ms`);

  const t0 = performance.now();
  const cancel = await api(d, 'POST', `/v1/jobs/${job.id}/cancel`);
  const cancelMs = performance.now() - t0;
  t.diagnostic(`cancel of the running job answered in ${cancelMs.toFixed(1)} ms`);
  // The answer waits a moment for the job to stop; on a busy machine it may still say running.
  assert.ok(['canceled', 'running'].includes(cancel.json.state), cancel.json.state);
  await events.next((m) => m.type === 'job.state' && m.job.id === job.id && m.job.state === 'canceled', 30_000);
  await events.close();
});

test('200 simultaneous submissions over HTTP are all accepted, listed and announced', async (t) => {
  // The first job sits in a slow (sleeping) pipeline; the other 199 wait in the queue.
  const d = await startTestDaemon(t, { pipeline: 'delay=1000&steps=100' });
  const events = await connectEvents(d);
  const N = 200;
  const t0 = performance.now();
  const answers = await Promise.all(
    Array.from({ length: N }, (_, i) => api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { prompt: `job ${i}`, idempotency_key: `k-${i}` }))),
  );
  const elapsed = performance.now() - t0;
  t.diagnostic(`${N} submissions answered in ${elapsed.toFixed(0)} ms`);
  for (const res of answers) assert.equal(res.status, 202, res.text);
  const ids = answers.map((res) => JobSubmitResponse.parse(res.json).job.id);
  assert.equal(new Set(ids).size, N, 'every submission got its own job');

  const listed = JobListResponse.parse((await api(d, 'GET', '/v1/jobs')).json).jobs;
  assert.equal(listed.length, N);
  assert.deepEqual(new Set(listed.map((j) => j.id)), new Set(ids));
  assert.equal(listed.filter((j) => j.state === 'running').length, 1);
  assert.equal(listed.filter((j) => j.state === 'queued').length, N - 1);

  await waitFor(() => new Set(events.messages.flatMap((m) => (m.type === 'job.state' ? [m.job.id] : []))).size === N, 10_000, 'a state event per job');

  // Replaying all 200 (same keys, same bodies) creates nothing new.
  const replays = await Promise.all(
    Array.from({ length: N }, (_, i) => api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { prompt: `job ${i}`, idempotency_key: `k-${i}` }))),
  );
  assert.ok(replays.every((res, i) => res.status === 200 && res.json.job.id === ids[i]));
  assert.equal(JobListResponse.parse((await api(d, 'GET', '/v1/jobs')).json).jobs.length, N);
  await events.close();
});
