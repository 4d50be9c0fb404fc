// What the farm's daemon-side tests share: a real redis-server with a client and a queue on it,
// closed after the test in the right order, and the result a fake worker returns.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAME } from '../../companion/farm/protocol.ts';
import { parseQueueUrl } from '../../companion/farm/queue_url.ts';
import type { JobResult } from '../../shared/jobs.ts';
import { startRedis } from '../helpers/redis_server.ts';

export const RESULT: JobResult = {
  output_path: '/renders/clip.mov', preview_paths: [], frame_count: 8, width: 320, height: 240,
  frame_rate: '10/1', fps: 10, duration_s: 0.8, codec: 'h264', has_audio: false,
};

export type Closers = (() => unknown)[];

/** A redis-server, a client of it and the farm's queue, and what the test closes, last opened first (a client whose server went away retries for ever). */
export async function farmRedis(t: { after(fn: () => Promise<void>): void }) {
  const server = await startRedis();
  const closers: Closers = [() => server.stop()];
  t.after(async () => {
    for (const close of closers.reverse()) await close();
  });
  const connection = parseQueueUrl(server.url);
  const redis = new Redis(server.url);
  const queue = new Queue(QUEUE_NAME, { connection: connection.options });
  closers.push(() => redis.disconnect(), () => queue.close());
  return { server, connection, closers, redis, queue };
}
