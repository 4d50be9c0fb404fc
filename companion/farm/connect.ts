// Opens the plain Redis connections the farm uses besides BullMQ's own (cancel requests).
// The first contact is checked once, without retries: an unreachable or refusing Redis is an
// error naming the address (without its password) instead of a start that waits forever.
// After that, ioredis reconnects by itself (a Redis restart is ridden out).
import { Redis } from 'ioredis';
import type { QueueConnection } from './queue_url.ts';

const FIRST_CONTACT_TIMEOUT_MS = 10_000;

export async function checkReachable(connection: QueueConnection): Promise<void> {
  const probe = new Redis({ ...connection.options, lazyConnect: true, connectTimeout: FIRST_CONTACT_TIMEOUT_MS, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  // connect() rejects with "Connection is closed"; the cause (ECONNREFUSED, NOAUTH...) comes here.
  let cause: Error | undefined;
  probe.on('error', (err: Error) => (cause ??= err));
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new Error(`cannot reach the farm's queue at ${connection.display}: ${cause?.message ?? (err instanceof Error ? err.message : err)}`);
  } finally {
    probe.disconnect();
  }
}

/** A long-lived connection; its errors go to the log (ioredis keeps reconnecting). */
export function openRedis(connection: QueueConnection, log: (message: string) => void): Redis {
  const redis = new Redis(connection.options);
  redis.on('error', (err: Error) => log(`redis ${connection.display}: ${err.message}`));
  return redis;
}
