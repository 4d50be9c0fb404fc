import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertTransition, canTransition, IllegalTransitionError, isFinished } from '../../companion/jobs/state_machine.ts';
import { JobState } from '../../shared/jobs.ts';

test('the allowed transitions, and nothing else', () => {
  const allowed = new Set([
    'queued>running', 'queued>canceled', 'queued>interrupted', 'queued>failed',
    'running>succeeded', 'running>failed', 'running>canceled', 'running>queued', 'running>interrupted',
  ]);
  for (const from of JobState.options) {
    for (const to of JobState.options) {
      assert.equal(canTransition(from, to), allowed.has(`${from}>${to}`), `${from} -> ${to}`);
    }
  }
});

test('finished states are final and illegal moves throw a named error', () => {
  assert.deepEqual(JobState.options.filter(isFinished), ['succeeded', 'failed', 'canceled', 'interrupted']);
  assert.throws(() => assertTransition('abc', 'succeeded', 'running'), (err: unknown) => {
    assert.ok(err instanceof IllegalTransitionError);
    assert.match((err as Error).message, /job abc: illegal state change succeeded -> running/);
    return true;
  });
  assert.doesNotThrow(() => assertTransition('abc', 'queued', 'running'));
});
