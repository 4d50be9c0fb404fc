import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQueueUrl } from '../../companion/farm/queue_url.ts';

test('host, port and database come from the address', () => {
  const q = parseQueueUrl('redis://10.0.0.5:6380/2');
  assert.deepEqual(q.options, { host: '10.0.0.5', port: 6380, db: 2, maxRetriesPerRequest: null });
  assert.equal(q.display, 'redis://10.0.0.5:6380/2');
  assert.equal(parseQueueUrl('redis://farm').options.port, 6379);
});

test('the password is used but never shown; the override wins', () => {
  const q = parseQueueUrl('rediss://render:s3cr%40t@farm.lan:6379/0');
  assert.equal(q.options.password, 's3cr@t');
  assert.equal(q.options.username, 'render');
  assert.deepEqual(q.options.tls, { servername: 'farm.lan' });
  assert.doesNotMatch(q.display, /s3cr/);
  assert.equal(q.display, 'rediss://render@farm.lan:6379/0 (with a password)');
  assert.equal(parseQueueUrl('redis://farm:6379', 'fromenv').options.password, 'fromenv');
});

test('a bad address is refused naming the problem, without echoing a password', () => {
  assert.throws(() => parseQueueUrl('http://farm:6379'), /must start with redis:\/\/ or rediss:\/\//);
  assert.throws(() => parseQueueUrl('redis://farm:6379/x'), /database must be a number/);
  assert.throws(() => parseQueueUrl('farm:6379'), /must start with redis/);
  assert.throws(() => parseQueueUrl('redis://u:pw@'), (err: Error) => !err.message.includes('pw'));
});
