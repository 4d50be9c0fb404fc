// The job service's outbox: an event goes out only once the commit it announces is durable,
// never before an event announced earlier, and not at all when its commit failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerEvent } from '../../shared/events.ts';
import { EventOutbox } from '../../companion/jobs/event_outbox.ts';

function deleted(id: string): ServerEvent {
  return { type: 'job.deleted', job_id: id };
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('events wait for their commit and for every event announced before them', async () => {
  const outbox = new EventOutbox(() => {});
  const sent: string[] = [];
  outbox.onEvent((e) => sent.push(e.type === 'job.deleted' ? e.job_id : e.type));
  outbox.announce(deleted('a'));
  assert.deepEqual(sent, ['a'], 'nothing pending: sent at once');

  const commit = deferred();
  outbox.announce(deleted('b'), commit.promise);
  outbox.announce(deleted('c'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, ['a'], 'b waits for its commit, c waits for b');
  commit.resolve();
  await outbox.settled();
  assert.deepEqual(sent, ['a', 'b', 'c']);
});

test('an event whose commit failed is not sent; the ones after it are', async () => {
  const outbox = new EventOutbox(() => {});
  const sent: string[] = [];
  outbox.onEvent((e) => sent.push(e.type === 'job.deleted' ? e.job_id : e.type));
  const commit = deferred();
  outbox.announce(deleted('refused'), commit.promise);
  outbox.announce(deleted('next'));
  commit.reject(new Error('ENOSPC'));
  await outbox.settled();
  assert.deepEqual(sent, ['next']);
});

test('a throwing listener is logged and the others still get the event; on() filters by type', () => {
  const logged: string[] = [];
  const outbox = new EventOutbox((level, message) => logged.push(`${level}: ${message}`));
  const deletedIds: string[] = [];
  const logs: string[] = [];
  outbox.onEvent(() => {
    throw new Error('listener bug');
  });
  outbox.on('job.deleted', (e) => deletedIds.push(e.job_id));
  const off = outbox.on('job.log', (e) => logs.push(e.message));
  off();
  outbox.announce(deleted('x'));
  outbox.announce({ type: 'job.log', job_id: 'x', level: 'info', message: 'hello', time: new Date(0).toISOString() });
  assert.deepEqual(deletedIds, ['x']);
  assert.deepEqual(logs, [], 'unsubscribed');
  assert.deepEqual(logged, ['error: event listener failed on job.deleted: listener bug', 'error: event listener failed on job.log: listener bug']);
});
