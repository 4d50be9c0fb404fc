// Downloading one file of a hub repository into its cache blob: streamed into
// `blobs/<hash>.incomplete`, resumed with a Range request from what is already there (after
// re-hashing that prefix), retried with back-off on network errors, stalls and 5xx answers,
// checked against the published hash, and only then renamed onto `blobs/<hash>`. A hash
// mismatch deletes the partial file: nothing unverified ever carries a blob's name.
import { open, rename, rm, stat } from 'node:fs/promises';
import type { Hash } from 'node:crypto';
import { contentHasher, hashFileInto, type HashKind } from './file_hash.ts';
import {
  authHeaders, backoffDelay, HubError, hubHttpError, networkFailure, sleep,
  type RequestContext, type RetryPolicy,
} from './hub_client.ts';

export interface BlobDownload {
  /** `{endpoint}/{repo}/resolve/{commit}/{file}` */
  url: string;
  blobPath: string;
  size: number;
  hashKind: HashKind;
  /** The published hash (also the blob's name). */
  hash: string;
  ctx: RequestContext;
}

export interface DownloadHooks {
  policy: RetryPolicy;
  signal?: AbortSignal;
  /** Called with each chunk's length; `resumed` is true for the bytes found on disk. */
  onBytes(bytes: number, resumed: boolean): void;
  /** Called before each retry, for logging. */
  onRetry?(error: unknown, attempt: number, delayMs: number): void;
}

const MAX_REDIRECTS = 10;

/** Downloads (or finishes downloading) one blob. Resolves once `blobPath` holds the verified file. */
export async function downloadBlob(job: BlobDownload, hooks: DownloadHooks): Promise<void> {
  const partial = `${job.blobPath}.incomplete`;
  const state: PartialState = { have: await fileSize(partial), hash: contentHasher(job.hashKind, job.size) };
  if (state.have > job.size) {
    await rm(partial, { force: true });
    state.have = 0;
  }
  if (state.have > 0) {
    await hashFileInto(state.hash, partial, state.have);
    hooks.onBytes(state.have, true);
  }
  let failures = 0;
  while (state.have < job.size) {
    const before = state.have;
    try {
      await fetchInto(job, partial, state, hooks);
    } catch (err) {
      if (hooks.signal?.aborted) throw hooks.signal.reason;
      if (err instanceof HubError && !err.retryable) throw err;
      failures = state.have > before ? 1 : failures + 1;
      if (failures >= hooks.policy.attempts) {
        throw err instanceof HubError ? err : networkFailure(err, job.ctx.config, job.ctx.file ?? job.url);
      }
      const delay = backoffDelay(hooks.policy, failures);
      hooks.onRetry?.(err, failures, delay);
      await sleep(delay, hooks.signal);
    }
  }
  const digest = state.hash.digest('hex');
  if (digest !== job.hash) {
    await rm(partial, { force: true });
    throw new HubError('hash-mismatch', `${job.ctx.file}: the downloaded bytes have ${job.hashKind} ${digest}, but ${job.ctx.config.endpoint} publishes ${job.hash} for this file; the partial download was deleted. Run the pull again; if it repeats, something between you and the hub (proxy, mirror) alters the file`);
  }
  await rename(partial, job.blobPath);
}

/** What the partial file holds: its length and the hash of exactly those bytes. */
interface PartialState {
  have: number;
  hash: Hash;
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** One attempt: a (ranged) GET appended to the partial file, keeping `state` in step with it. */
async function fetchInto(job: BlobDownload, partial: string, state: PartialState, hooks: DownloadHooks): Promise<void> {
  const stall = new AbortController();
  const signal = hooks.signal ? AbortSignal.any([hooks.signal, stall.signal]) : stall.signal;
  let timer = setTimeout(() => stall.abort(), hooks.policy.stallTimeoutMs);
  const rearm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), hooks.policy.stallTimeoutMs);
  };
  const startOver = () => {
    hooks.onBytes(-state.have, true);
    state.have = 0;
    state.hash = contentHasher(job.hashKind, job.size);
  };
  try {
    const res = await openFollowingRedirects(job, state.have, signal);
    if (res.status === 416) {
      // The server cannot serve the range we asked for: start over.
      await res.body?.cancel();
      await rm(partial, { force: true });
      startOver();
      return;
    }
    if (res.status === 200 && state.have > 0) {
      // Range ignored: the body is the whole file, so the partial file starts over.
      startOver();
    } else if (res.status === 206) {
      const rangeStart = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
      if (rangeStart !== state.have) {
        await res.body?.cancel();
        throw new HubError('bad-response', `${job.ctx.file}: asked for bytes from ${state.have}, the server sent Content-Range "${res.headers.get('content-range')}"`);
      }
    } else if (res.status !== 200) {
      await res.body?.cancel();
      throw hubHttpError(res, job.ctx);
    }
    const fh = await open(partial, state.have === 0 ? 'w' : 'a');
    try {
      if (res.body) {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          rearm();
          if (state.have + chunk.byteLength > job.size) {
            throw new HubError('bad-response', `${job.ctx.file}: the server sent more than the ${job.size} bytes the listing gives for this file`);
          }
          await fh.write(chunk);
          state.hash.update(chunk);
          state.have += chunk.byteLength;
          hooks.onBytes(chunk.byteLength, false);
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (state.have < job.size) {
      throw new Error(`connection closed after ${state.have} of ${job.size} bytes`);
    }
  } catch (err) {
    if (stall.signal.aborted && !hooks.signal?.aborted) {
      throw new Error(`no data received for ${Math.round(hooks.policy.stallTimeoutMs / 1000)} s`);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET with redirects followed by hand, so that the Authorization header is dropped when a
 * redirect leaves the hub's origin (LFS files are served from a CDN) and Range is kept.
 */
async function openFollowingRedirects(job: BlobDownload, have: number, signal: AbortSignal): Promise<Response> {
  let url = job.url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = {
      'Accept-Encoding': 'identity',
      ...authHeaders(job.ctx.config, url),
    };
    if (have > 0) headers.Range = `bytes=${have}-`;
    const res = await fetch(url, { headers, redirect: 'manual', signal });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      url = new URL(location, url).toString();
      continue;
    }
    return res;
  }
  throw new HubError('bad-response', `${job.ctx.file}: more than ${MAX_REDIRECTS} redirects from ${job.url}`);
}
