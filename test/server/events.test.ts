// The event hub's greeting: the hello, then the latest previews of the jobs under way, as many
// as fit without the new client being dropped for a full send buffer.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import type { EventOf, LogLevel } from '../../shared/events.ts';
import { connectEvents, startTestDaemon } from './helpers.ts';

/** A farm's worth of jobs under way, each with a ~100 KB preview: 30 MB, well past the 16 MiB drop limit. */
const JOBS = 300;
const PREVIEW_BASE64 = 100_000;

function preview(i: number): EventOf<'job.preview'> {
  const data = Buffer.alloc((PREVIEW_BASE64 / 4) * 3, i).toString('base64');
  return { type: 'job.preview', job_id: randomUUID(), index: i, mime: 'image/jpeg', data, width: 640, height: 360 };
}

test('a client greeted with many jobs\' latest previews stays connected and gets, in order, those that fit', async (t) => {
  const warnings: string[] = [];
  const log = (level: LogLevel, message: string) => void (level === 'warn' && warnings.push(message));
  const d = await startTestDaemon(t, { log });
  const previews = Array.from({ length: JOBS }, (_, i) => preview(i));
  // The job service's answer stood in for: running that many jobs is not what is tested here.
  d.jobs.latestPreviews = () => previews;

  const client = await connectEvents(d);
  t.after(() => client.close());
  const marker = { type: 'job.log', job_id: randomUUID(), level: 'info', message: 'after the greeting', time: new Date(0).toISOString() } as const;
  await client.next((m) => m.type === 'hello');
  d.daemon.events.broadcast(marker);
  const dropped = once(client.ws, 'close').then(() => 'dropped');
  assert.equal(await Promise.race([client.next((m) => m.type === 'job.log').then(() => 'greeted'), dropped]), 'greeted');

  const got = client.messages.filter((m) => m.type === 'job.preview').map((m) => m.job_id);
  assert.ok(got.length > 0, 'some previews were sent');
  // Kernel socket buffers take far less than the 30 MB on offer at once: not all can fit.
  assert.ok(got.length < JOBS, `${got.length} of ${JOBS} previews sent`);
  assert.deepEqual(got, previews.slice(0, got.length).map((p) => p.job_id), 'the first ones, in order');
  assert.deepEqual(client.messages.at(-1), marker, 'the client still gets events');
  assert.equal(client.ws.readyState, client.ws.OPEN);
  assert.deepEqual(warnings, []);
});
