// Talking to the Hugging Face hub (or a mirror): endpoint and token from the environment,
// the repository listing, HTTP errors turned into messages that say what to do, and the
// retry policy for network failures.
//
//   GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true
//       -> { sha: <commit>, siblings: [{ rfilename, size, blobId, lfs?: { sha256, size } }] }
//   GET {endpoint}/{repo}/resolve/{commit}/{path}
//       -> 200 with the bytes (ETag = git blob sha1), or for LFS files a 302 to a CDN with
//          X-Linked-Etag = sha256 and X-Linked-Size; X-Repo-Commit on both; Range honoured.
// Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo).
// Unauthenticated requests for a repo that does not exist (or is private) get 401, not 404.
import { z } from 'zod';

import { hubEnv, processEnv, type Env } from '../config.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubConfig {
  endpoint: string;
  token?: string;
}

export function hubConfig(env: Env = processEnv()): HubConfig {
  const { endpoint, token } = hubEnv(env);
  return { endpoint: (endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, ''), token };
}

export function isOfflineMode(env: Env = processEnv()): boolean {
  return hubEnv(env).offline;
}

export type HubErrorKind =
  | 'not-found' | 'revision-not-found' | 'entry-not-found' | 'gated' | 'unauthorized' | 'forbidden'
  | 'offline' | 'network' | 'server' | 'bad-response' | 'hash-mismatch' | 'not-a-pipeline' | 'busy';

export class HubError extends Error {
  constructor(readonly kind: HubErrorKind, message: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }

  /** Worth another attempt: a 5xx/429 answer. (Network failures are not HubErrors until retries run out.) */
  get retryable(): boolean {
    return this.kind === 'server';
  }
}

export interface RequestContext {
  config: HubConfig;
  repoId: string;
  revision: string;
  /** The file, for resolve requests. */
  file?: string;
}

/** Turns a non-2xx hub answer into a HubError whose message says what to do. */
export function hubHttpError(res: Response, ctx: RequestContext): HubError {
  const { endpoint, token } = ctx.config;
  const code = res.headers.get('x-error-code') ?? '';
  const status = res.status;
  const page = `${endpoint}/${ctx.repoId}`;
  if (code === 'GatedRepo' || ((status === 401 || status === 403) && ctx.file && code !== 'RepoNotFound')) {
    return new HubError('gated', token
      ? `${ctx.repoId} is a gated model and the token in HF_TOKEN has no access to it (HTTP ${status}): accept the license on the model page (${page}) with that account, or use a token of an account that has`
      : `${ctx.repoId} is a gated model (HTTP ${status}): accept the license on the model page (${page}) and set HF_TOKEN to an access token of that account`, status);
  }
  if (code === 'RepoNotFound' || (status === 404 && !ctx.file && code !== 'RevisionNotFound')) {
    return new HubError('not-found', `no model "${ctx.repoId}" on ${endpoint} (HTTP ${status})${token ? '' : '; if it is private, set HF_TOKEN'}`, status);
  }
  if (code === 'RevisionNotFound') {
    return new HubError('revision-not-found', `model ${ctx.repoId} has no revision "${ctx.revision}" on ${endpoint}`, status);
  }
  if (code === 'EntryNotFound' || status === 404) {
    return new HubError('entry-not-found', `model ${ctx.repoId} (revision ${ctx.revision}) has no file ${ctx.file ?? ''} on ${endpoint} (HTTP ${status})`, status);
  }
  if (status === 401) {
    return new HubError('unauthorized', token
      ? `${endpoint} rejected the token in HF_TOKEN (HTTP 401): check that it is a valid access token`
      : `${endpoint} requires authentication for ${ctx.repoId} (HTTP 401): set HF_TOKEN`, status);
  }
  if (status === 403) {
    return new HubError('forbidden', `${endpoint} refused access to ${ctx.repoId} (HTTP 403)${token ? ' with the token in HF_TOKEN' : '; set HF_TOKEN if the model needs an account'}`, status);
  }
  if (status >= 500 || status === 429) {
    return new HubError('server', `${endpoint} answered HTTP ${status} for ${ctx.file ?? ctx.repoId}`, status);
  }
  return new HubError('bad-response', `unexpected HTTP ${status} from ${endpoint} for ${ctx.file ?? ctx.repoId}`, status);
}

const NETWORK_UNREACHABLE = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const FIRST_CONTACT_FATAL = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH']);

/** The errno-style code behind a fetch failure (`fetch failed` hides it in `cause`). */
export function networkErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(errors) && errors.length) e = errors[0];
    else e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The error reported once retries are used up on a network failure. */
export function networkFailure(err: unknown, config: HubConfig, what: string): HubError {
  const code = networkErrorCode(err);
  if (code && NETWORK_UNREACHABLE.has(code)) {
    return new HubError('offline', `cannot reach the Hugging Face hub at ${config.endpoint} (${code}) while fetching ${what}: check the network connection (or set HF_ENDPOINT to a reachable mirror)`);
  }
  const reason = err instanceof Error ? `${err.message}${code ? ` (${code})` : ''}` : String(err);
  return new HubError('network', `network error talking to ${config.endpoint} while fetching ${what}: ${reason}`);
}

export interface RetryPolicy {
  /** Consecutive failed attempts before giving up (an attempt that made progress resets the count). */
  attempts: number;
  /** First back-off delay; doubled after each failure, capped at 30 s. */
  baseDelayMs: number;
  /** A download that receives nothing for this long is aborted and retried. */
  stallTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000, stallTimeoutMs: 30_000 };

export function backoffDelay(policy: RetryPolicy, failures: number): number {
  return Math.min(30_000, policy.baseDelayMs * 2 ** Math.max(0, failures - 1));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function authHeaders(config: HubConfig, url: string): Record<string, string> {
  // The token goes only to the hub itself, never to the CDN a file redirects to.
  if (!config.token || new URL(url).origin !== new URL(config.endpoint).origin) return {};
  return { Authorization: `Bearer ${config.token}` };
}

const siblingSchema = z.object({
  rfilename: z.string(),
  size: z.number().int().nonnegative().optional(),
  blobId: z.string().optional(),
  lfs: z.object({ sha256: z.string(), size: z.number().int().nonnegative() }).partial().optional(),
});
export type Sibling = z.infer<typeof siblingSchema>;

const listingSchema = z.object({
  sha: z.string().regex(/^[0-9a-f]{40}$/, 'not a commit hash'),
  siblings: z.array(siblingSchema),
});
export type RepoListing = z.infer<typeof listingSchema>;

export function apiUrl(config: HubConfig, repoId: string, revision: string): string {
  return `${config.endpoint}/api/models/${repoId}/revision/${encodeURIComponent(revision)}?blobs=true`;
}

export function resolveUrl(config: HubConfig, repoId: string, commit: string, file: string): string {
  return `${config.endpoint}/${repoId}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** The file listing of a revision, with hashes and sizes; retried on network and 5xx errors. */
export async function fetchListing(
  config: HubConfig,
  repoId: string,
  revision: string,
  policy: RetryPolicy = DEFAULT_RETRY,
  signal?: AbortSignal,
): Promise<RepoListing> {
  const url = apiUrl(config, repoId, revision);
  const ctx: RequestContext = { config, repoId, revision };
  let failures = 0;
  for (;;) {
    let lastError: unknown;
    try {
      const res = await fetch(url, {
        headers: { Accept: 'application/json', ...authHeaders(config, url) },
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(policy.stallTimeoutMs)]) : AbortSignal.timeout(policy.stallTimeoutMs),
      });
      if (!res.ok) throw hubHttpError(res, ctx);
      const body: unknown = await res.json().catch(() => undefined);
      const parsed = listingSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new HubError('bad-response', `${url} did not answer with a model listing (field "${issue.path.join('.')}": ${issue.message}); is HF_ENDPOINT a Hugging Face hub?`);
      }
      return parsed.data;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof HubError && !err.retryable) throw err;
      // No such host or nothing listening: the first contact fails at once rather than after
      // a minute of back-off (an offline machine, a mistyped HF_ENDPOINT).
      if (!(err instanceof HubError) && FIRST_CONTACT_FATAL.has(networkErrorCode(err) ?? '')) throw networkFailure(err, config, `the file list of ${repoId}`);
      lastError = err;
    }
    failures++;
    if (failures >= policy.attempts) {
      throw lastError instanceof HubError ? lastError : networkFailure(lastError, config, `the file list of ${repoId}`);
    }
    await sleep(backoffDelay(policy, failures), signal);
  }
}
