// A small HTTP client for the daemon's REST API, used by the `tokenflow jobs` commands.
// Answers are validated with the shared schemas, so a daemon of another API version fails
// loudly instead of being misread.
import type { z } from 'zod';
import { API_PATHS } from '../../shared/api.ts';
import { ErrorBody } from '../../shared/errors.ts';
import { JobListResponse, JobRecord } from '../../shared/jobs.ts';
import { DEFAULT_PORT, portFromEnv, resolveFolders } from '../config.ts';
import { readDaemonFile } from './discovery.ts';
import { readToken, tokenPath } from './token.ts';

/** Nothing listens at the URL (or it does not speak HTTP). */
export class DaemonUnreachableError extends Error {
  constructor(readonly url: string, cause: unknown) {
    super(`no TokenFlow daemon answers at ${url} (${reason(cause)}); start it with \`tokenflow serve\``, { cause });
    this.name = 'DaemonUnreachableError';
  }
}

/** The useful part of a fetch failure (undici hides the errno in `cause`). */
function reason(err: unknown): string {
  const inner = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (inner?.code === 'ECONNREFUSED') return 'connection refused';
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  return inner?.code ?? inner?.message ?? (err instanceof Error ? err.message : String(err));
}

/** The daemon answered with an error body. */
export class DaemonRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'DaemonRequestError';
  }
}

export class DaemonClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async listJobs(): Promise<JobRecord[]> {
    return (await this.request('GET', API_PATHS.jobs, JobListResponse)).jobs;
  }

  async getJob(id: string): Promise<JobRecord> {
    return this.request('GET', `${API_PATHS.jobs}/${encodeURIComponent(id)}`, JobRecord);
  }

  async cancelJob(id: string): Promise<JobRecord> {
    return this.request('POST', `${API_PATHS.jobs}/${encodeURIComponent(id)}/cancel`, JobRecord);
  }

  private async request<S extends z.ZodType>(method: string, path: string, schema: S): Promise<z.infer<S>> {
    const url = new URL(path, this.baseUrl);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new DaemonUnreachableError(this.baseUrl, err);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new DaemonUnreachableError(this.baseUrl, new Error(`${method} ${path} answered HTTP ${res.status} with non-JSON`));
    }
    if (!res.ok) {
      const error = ErrorBody.safeParse(body);
      if (error.success) {
        const { code, message, field } = error.data.error;
        throw new DaemonRequestError(res.status, code, message, field);
      }
      throw new DaemonRequestError(res.status, 'unknown', `${method} ${path} failed with HTTP ${res.status}`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new Error(`${method} ${path}: the daemon's answer does not match this client's API (${parsed.error.issues[0]?.message})`);
    }
    return parsed.data;
  }
}

/**
 * A client for the daemon of this machine's configuration: the URL from `url` (a flag),
 * else TOKENFLOW_URL, else the running daemon's discovery file, else the default port; the
 * token from the config folder.
 */
export async function localDaemonClient(url?: string, env: Record<string, string | undefined> = process.env): Promise<DaemonClient> {
  const folders = resolveFolders(env);
  const token = await readToken(folders.configDir);
  if (token === undefined) {
    throw new Error(
      `no token at ${tokenPath(folders.configDir)}: no TokenFlow daemon has run with this configuration; start one with \`tokenflow serve\``,
    );
  }
  const base = url ?? nonEmpty(env.TOKENFLOW_URL) ?? (await readDaemonFile(folders.dataDir))?.url ?? `http://127.0.0.1:${portFromEnv(env)}`;
  try {
    new URL(base);
  } catch {
    throw new Error(`daemon URL "${base}" is not a URL (expected e.g. http://127.0.0.1:${DEFAULT_PORT})`);
  }
  return new DaemonClient(base, token);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== '' ? value : undefined;
}
