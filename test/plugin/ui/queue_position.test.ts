// A queued job's place in the queue, as its card says it: a local daemon's running jobs are
// ahead of its queued ones; a studio farm daemon's running jobs are on the workers, not ahead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobView } from '../../../plugin/src/app/model.ts';
import { queuedTexts } from '../../../plugin/src/ui/queue_position.ts';
import type { JobState } from '../../../shared/jobs.ts';
import { sampleRecord } from '../../jobs/helpers.ts';

function views(...jobs: [JobState, string][]): JobView[] {
  return jobs.map(([state, created_at]) => ({ record: sampleRecord({ state, created_at }), previews: [] }));
}

/** The texts in the order of the views (queued ones only). */
function texts(all: JobView[], farm: boolean): (string | undefined)[] {
  const byId = queuedTexts(all, all.filter((v) => v.record.state === 'running').length, farm);
  return all.map((v) => byId.get(v.record.id));
}

// Listed newest first, as the panel does; two running, three queued.
const jobs = views(
  ['queued', '2026-01-01T10:05:00.000Z'],
  ['queued', '2026-01-01T10:04:00.000Z'],
  ['running', '2026-01-01T10:03:00.000Z'],
  ['queued', '2026-01-01T10:02:00.000Z'],
  ['running', '2026-01-01T10:01:00.000Z'],
  ['succeeded', '2026-01-01T10:00:00.000Z'],
);

test('a daemon running its jobs itself: the running jobs and the older queued ones are ahead', () => {
  assert.deepEqual(texts(jobs, false), [
    'Waiting in the queue (4 ahead)', 'Waiting in the queue (3 ahead)', undefined, 'Waiting in the queue (2 ahead)', undefined, undefined,
  ]);
  assert.deepEqual(texts(views(['queued', '2026-01-01T10:00:00.000Z']), false), ['Starting…']);
});

test('a studio farm daemon: jobs running on workers are not ahead; the oldest queued one waits for a worker', () => {
  assert.deepEqual(texts(jobs, true), [
    'Waiting in the queue (2 ahead)', 'Waiting in the queue (1 ahead)', undefined, 'Waiting in the queue', undefined, undefined,
  ]);
});
