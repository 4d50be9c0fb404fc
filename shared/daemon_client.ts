// The REST client for the daemon, used by the panel and by the CLI (`tokenflow jobs`). The
// caller injects `fetch` (the panel's UXP fetch, Node's global fetch), so this module runs in
// both and reads no environment. Every answer is parsed with the shared schemas, so a daemon
// speaking another API version fails loudly instead of being misread; every failure is one
// DaemonError.
import type { z } from 'zod';
import { API_PATHS, API_VERSION } from './api.ts';
import { ErrorBody, type ClientErrorCode } from './errors.ts';
import { Health, ModelListResponse, type ModelInfo } from './health.ts';
import { JobListResponse, JobRecord, JobSubmitResponse, type JobRequestInput } from './jobs.ts';
import { ModelJob, ModelJobListResponse, ModelPullResponse, type ModelPullRequest } from './model_pulls.ts';
import { PairingGranted, PairingStarted } from './pairing.ts';
import { Preset, PresetListResponse, type PresetBodyInput } from './presets.ts';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The request that failed, as sent. */
export interface DaemonRequest {
  method: string;
  url: string;
}

/**
 * A request that failed: the daemon's refusal (its status, code and message from the error
 * body, shared/errors.ts ERROR_CODES), or a failure with a CLIENT_ERROR_CODES code:
 * `daemon_unreachable` (status 0) or `protocol_mismatch`.
 */
export class DaemonError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly request: DaemonRequest,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DaemonError';
  }

  /** Nothing answered (not started, another port, or too slow). */
  get unreachable(): boolean {
    return this.code === ('daemon_unreachable' satisfies ClientErrorCode);
  }

  /** Something answered, but not in this client's API (another version or another program). */
  get protocolMismatch(): boolean {
    return this.code === ('protocol_mismatch' satisfies ClientErrorCode);
  }
}

/** What `GET /v1/health` tells anyone before pairing: is this a TokenFlow daemon, and which API. */
export interface PublicHealthInfo {
  service: string;
  apiVersion: string;
}

export interface DaemonClientOptions {
  baseUrl: string;
  token?: string;
  fetch: FetchLike;
  timeoutMs?: number;
}

interface Answer {
  status: number;
  body: unknown;
}

export class DaemonClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: FetchLike;
  private readonly timeoutMs: number;

  constructor(options: DaemonClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token;
    this.fetchImpl = options.fetch;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  withToken(token: string): DaemonClient {
    return new DaemonClient({ baseUrl: this.baseUrl, token, fetch: this.fetchImpl, timeoutMs: this.timeoutMs });
  }

  /**
   * The unauthenticated health answer. It is read field by field (not with a schema) because
   * its whole point is to tell a daemon of another API version apart from one of ours.
   */
  async publicHealth(): Promise<PublicHealthInfo> {
    const { status, body } = await this.send('GET', API_PATHS.health, undefined, false);
    const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (record.service !== 'tokenflow') {
      throw this.error(status, 'protocol_mismatch', `the program at ${this.baseUrl} is not a TokenFlow daemon`, 'GET', API_PATHS.health);
    }
    return { service: record.service, apiVersion: typeof record.api_version === 'string' ? record.api_version : 'unknown' };
  }

  /** Asks the daemon for a pairing: it shows a one-time code to the user (shared/pairing.ts). */
  startPairing(): Promise<PairingStarted> {
    return this.request('POST', API_PATHS.pair, PairingStarted, undefined, false);
  }

  /** The daemon's token for the code the user typed; a DaemonError says why not. */
  async confirmPairing(pairingId: string, code: string): Promise<string> {
    const path = API_PATHS.pairConfirm.replace(':id', encodeURIComponent(pairingId));
    return (await this.request('POST', path, PairingGranted, { code }, false)).token;
  }

  health(): Promise<Health> {
    return this.request('GET', API_PATHS.health, Health);
  }

  async listJobs(): Promise<JobRecord[]> {
    return (await this.request('GET', API_PATHS.jobs, JobListResponse)).jobs;
  }

  getJob(id: string): Promise<JobRecord> {
    return this.request('GET', API_PATHS.job.replace(':id', encodeURIComponent(id)), JobRecord);
  }

  submit(request: JobRequestInput): Promise<JobSubmitResponse> {
    return this.request('POST', API_PATHS.jobs, JobSubmitResponse, request);
  }

  cancel(id: string): Promise<JobRecord> {
    return this.request('POST', API_PATHS.jobCancel.replace(':id', encodeURIComponent(id)), JobRecord);
  }

  async deleteJob(id: string): Promise<void> {
    await this.send('DELETE', API_PATHS.job.replace(':id', encodeURIComponent(id)), undefined, true);
  }

  async presets(): Promise<Preset[]> {
    return (await this.request('GET', API_PATHS.presets, PresetListResponse)).presets;
  }

  putPreset(name: string, body: PresetBodyInput): Promise<Preset> {
    return this.request('PUT', API_PATHS.preset.replace(':name', encodeURIComponent(name)), Preset, body);
  }

  async deletePreset(name: string): Promise<void> {
    await this.send('DELETE', API_PATHS.preset.replace(':name', encodeURIComponent(name)), undefined, true);
  }

  async models(): Promise<ModelInfo[]> {
    return (await this.request('GET', API_PATHS.models, ModelListResponse)).models;
  }

  pullModel(request: ModelPullRequest): Promise<ModelPullResponse> {
    return this.request('POST', API_PATHS.modelPull, ModelPullResponse, request);
  }

  async modelPulls(): Promise<ModelJob[]> {
    return (await this.request('GET', API_PATHS.modelPulls, ModelJobListResponse)).jobs;
  }

  cancelModelPull(id: string): Promise<ModelJob> {
    return this.request('POST', API_PATHS.modelPullCancel.replace(':id', encodeURIComponent(id)), ModelJob);
  }

  /** The events socket's URL (ws: on the same host and port). */
  eventsUrl(): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}${API_PATHS.events}`;
  }

  private async request<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown, authenticated = true): Promise<z.infer<S>> {
    const answer = await this.send(method, path, body, authenticated);
    const parsed = schema.safeParse(answer.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw this.error(
        answer.status,
        'protocol_mismatch',
        `${method} ${path}: the daemon's answer does not match this client's API ${API_VERSION} (${issue?.path.join('.') ?? ''}: ${issue?.message})`,
        method,
        path,
      );
    }
    return parsed.data;
  }

  private async send(method: string, path: string, body: unknown, authenticated: boolean): Promise<Answer> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (authenticated) {
      if (!this.token) throw this.error(401, 'unauthorized', 'no token: pair the panel with the daemon first', method, path);
      headers.Authorization = `Bearer ${this.token}`;
    }
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    // A timer rather than AbortSignal.timeout: UXP's fetch environment may lack the latter.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: abort.signal,
      });
    } catch (err) {
      throw this.error(0, 'daemon_unreachable', `no TokenFlow daemon answers at ${this.baseUrl} (${reason(err)}); start it with \`tokenflow serve\``, method, path, undefined, err);
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 204) return { status: 204, body: undefined };
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw this.error(response.status, 'protocol_mismatch', `${method} ${path} answered HTTP ${response.status} with something other than JSON: is this the TokenFlow daemon?`, method, path);
    }
    if (!response.ok) {
      const error = ErrorBody.safeParse(parsed);
      if (error.success) {
        const { code, message, field } = error.data.error;
        throw this.error(response.status, code, message, method, path, field);
      }
      throw this.error(response.status, 'protocol_mismatch', `${method} ${path} failed with HTTP ${response.status}`, method, path);
    }
    return { status: response.status, body: parsed };
  }

  private error(status: number, code: string, message: string, method: string, path: string, field?: string, cause?: unknown): DaemonError {
    return new DaemonError(status, code, message, { method, url: `${this.baseUrl}${path}` }, field, cause === undefined ? undefined : { cause });
  }
}

/** The useful part of a fetch failure (Node's fetch hides the errno in `cause`). */
function reason(err: unknown): string {
  const inner = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (inner?.code === 'ECONNREFUSED') return 'connection refused';
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return 'timed out';
  return inner?.code ?? inner?.message ?? (err instanceof Error ? err.message : String(err));
}
