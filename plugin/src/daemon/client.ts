// The panel's REST client for the daemon. Every answer is validated with the shared schemas,
// so a daemon speaking another API version fails loudly instead of being misread.
import type { z } from 'zod';
import { API_PATHS, API_VERSION } from '../../../shared/api.ts';
import { ErrorBody } from '../../../shared/errors.ts';
import { Health, ModelListResponse, type ModelInfo } from '../../../shared/health.ts';
import { JobListResponse, JobRecord, JobSubmitResponse, type JobRequestInput } from '../../../shared/jobs.ts';
import { PairingGranted, PairingStarted } from '../../../shared/pairing.ts';
import { ModelJob, ModelJobListResponse, ModelPullResponse, type ModelPullRequest } from '../../../shared/model_pulls.ts';
import { Preset, PresetListResponse, type PresetBodyInput } from '../../../shared/presets.ts';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Nothing answers at the daemon's address (not started, or another port). */
export class DaemonUnreachableError extends Error {
  constructor(readonly baseUrl: string, cause?: unknown) {
    super(`no TokenFlow daemon answers at ${baseUrl}`, { cause });
    this.name = 'DaemonUnreachableError';
  }
}

/** The daemon answered with an error (`{error: {code, message, field?}}`). */
export class DaemonHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'DaemonHttpError';
  }
}

/** The daemon answered, but not in this panel's API (another version or another program). */
export class DaemonProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DaemonProtocolError';
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
    const body = await this.send('GET', API_PATHS.health, undefined, false);
    const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (record.service !== 'tokenflow') {
      throw new DaemonProtocolError(`the program at ${this.baseUrl} is not a TokenFlow daemon`);
    }
    return { service: record.service, apiVersion: typeof record.api_version === 'string' ? record.api_version : 'unknown' };
  }

  /** Asks the daemon for a pairing: it shows a one-time code to the user (shared/pairing.ts). */
  startPairing(): Promise<PairingStarted> {
    return this.request('POST', API_PATHS.pair, PairingStarted, undefined, false);
  }

  /** The daemon's token for the code the user typed; a DaemonHttpError says why not. */
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

  submit(request: JobRequestInput): Promise<JobSubmitResponse> {
    return this.request('POST', API_PATHS.jobs, JobSubmitResponse, request);
  }

  cancel(id: string): Promise<JobRecord> {
    return this.request('POST', `${API_PATHS.jobs}/${encodeURIComponent(id)}/cancel`, JobRecord);
  }

  async deleteJob(id: string): Promise<void> {
    await this.send('DELETE', `${API_PATHS.jobs}/${encodeURIComponent(id)}`, undefined, true);
  }

  async presets(): Promise<Preset[]> {
    return (await this.request('GET', API_PATHS.presets, PresetListResponse)).presets;
  }

  putPreset(name: string, body: PresetBodyInput): Promise<Preset> {
    return this.request('PUT', `${API_PATHS.presets}/${encodeURIComponent(name)}`, Preset, body);
  }

  async deletePreset(name: string): Promise<void> {
    await this.send('DELETE', `${API_PATHS.presets}/${encodeURIComponent(name)}`, undefined, true);
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
    return this.request('POST', `${API_PATHS.modelPulls}/${encodeURIComponent(id)}/cancel`, ModelJob);
  }

  /** The events socket's URL (ws: on the same host and port). */
  eventsUrl(): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}${API_PATHS.events}`;
  }

  private async request<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown, authenticated = true): Promise<z.infer<S>> {
    const answer = await this.send(method, path, body, authenticated);
    const parsed = schema.safeParse(answer);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DaemonProtocolError(
        `${method} ${path}: the daemon's answer does not match this panel's API ${API_VERSION} (${issue?.path.join('.') ?? ''}: ${issue?.message})`,
      );
    }
    return parsed.data;
  }

  private async send(method: string, path: string, body: unknown, authenticated: boolean): Promise<unknown> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (authenticated) {
      if (!this.token) throw new DaemonHttpError(401, 'unauthorized', 'no token: pair the panel with the daemon first');
      headers.Authorization = `Bearer ${this.token}`;
    }
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
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
      throw new DaemonUnreachableError(this.baseUrl, err);
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 204) return undefined;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new DaemonProtocolError(`${method} ${path} answered HTTP ${response.status} with something other than JSON: is this the TokenFlow daemon?`);
    }
    if (!response.ok) {
      const error = ErrorBody.safeParse(parsed);
      if (error.success) {
        const { code, message, field } = error.data.error;
        throw new DaemonHttpError(response.status, code, message, field);
      }
      throw new DaemonHttpError(response.status, 'unknown', `${method} ${path} failed with HTTP ${response.status}`);
    }
    return parsed;
  }
}
