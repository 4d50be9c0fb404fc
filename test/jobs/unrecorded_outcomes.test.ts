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

test('a record asked for while one is under way (the retry timer and a cancel) waits for it: the outcome is written once', async () => {
  let allRecorded = 0;
  const outcomes = new UnrecordedOutcomes(() => {}, () => allRecorded++);
  let writes = 0;
  let finishWrite!: (ok: boolean) => void;
  outcomes.add('a', async () => {
    writes++;
    const ok = await new Promise<boolean>((resolve) => (finishWrite = resolve));
    if (!ok) throw Object.assign(new Error('no space left'), { code: 'ENOSPC' });
  });
  try {
    // The disk is still full for the write under way, free by the time the second asks.
    const timer = outcomes.record('a');
    const cancel = outcomes.record('a');
    await settle();
    assert.equal(writes, 1, 'the second waits for the write under way');
    finishWrite(false);
    await assert.rejects(timer, /no space left/);
    await settle();
    assert.equal(writes, 2, 'the second tried again once the first had failed');
    finishWrite(true);
    await cancel;
    assert.equal(outcomes.has('a'), false);
    assert.equal(allRecorded, 1);

    // Both asking while the disk has room: one write, both answered by it.
    outcomes.add('b', async () => {
      writes++;
      await settle();
    });
    await Promise.all([outcomes.record('b'), outcomes.record('b')]);
    assert.equal(writes, 3);
    assert.equal(allRecorded, 2);
  } finally {
    outcomes.close();
  }
});

/** Lets the promise callbacks queued so far run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
