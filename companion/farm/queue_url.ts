// The farm's Redis address: `redis://[USER:PASSWORD@]HOST:PORT[/DB]`, or `rediss://` for TLS.
// The password may also come from TOKENFLOW_QUEUE_PASSWORD (config.ts), so it need not sit in
// a command line or a service file; it is never part of what gets logged (`display`).
import type { RedisOptions } from 'bullmq';

export interface QueueConnection {
  /** ioredis options for BullMQ's connections. */
  options: RedisOptions;
  /** The address without its password, for logs. */
  display: string;
}

export function parseQueueUrl(raw: string, passwordOverride?: string): QueueConnection {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`the queue address must look like redis://HOST:PORT[/DB], got "${redact(raw)}"`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`the queue address must start with redis:// or rediss://, got "${url.protocol}//…"`);
  }
  if (!url.hostname) throw new Error('the queue address names no host');
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,2}$/.test(dbText)) throw new Error(`the queue address's database must be a number (e.g. /0), got "/${dbText}"`);
  const password = passwordOverride ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: dbText === '' ? 0 : Number(dbText),
    // BullMQ's workers block on Redis; it requires no per-request retry cap.
    maxRetriesPerRequest: null,
  };
  if (url.username) options.username = decodeURIComponent(url.username);
  if (password !== undefined) options.password = password;
  if (url.protocol === 'rediss:') options.tls = { servername: options.host };
  const display = `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}/${options.db}${password !== undefined ? ' (with a password)' : ''}`;
  return { options, display };
}

/** Hides a password in an address that could not be parsed. */
function redact(raw: string): string {
  return raw.replace(/\/\/[^@/]*@/, '//…@');
}
