// Outcomes the job log could not take (full disk): kept until recorded; the queue is told once
// none is left.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UnrecordedOutcomes } from '../../companion/jobs/unrecorded_outcomes.ts';

test('an outcome stays unrecorded while its record fails; once all are recorded the queue is told', async () => {
  let allRecorded = 0;
  const outcomes = new UnrecordedOutcomes(() => {}, () => allRecorded++);
  let diskFull = true;
  const written: string[] = [];
  const record = (id: string) => async () => {
    if (diskFull) throw Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    written.push(id);
  };
  outcomes.add('a', record('a'));
  outcomes.add('b', record('b'));
  try {
    await assert.rejects(outcomes.record('a'), /no space left/);
    assert.ok(outcomes.has('a'));
    assert.equal(outcomes.size, 2);

    diskFull = false;
    await outcomes.record('a');
    assert.equal(outcomes.has('a'), false);
    assert.equal(allRecorded, 0, 'b is still unrecorded');
    await outcomes.record('b');
    assert.deepEqual(written, ['a', 'b']);
    assert.equal(outcomes.size, 0);
    assert.equal(allRecorded, 1);
  } finally {
    outcomes.close();
  }
});
