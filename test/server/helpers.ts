// Shared helpers for the daemon tests: a real daemon on 127.0.0.1 (port 0) over a real job
// service whose pipeline is a test double in a worker thread, raw HTTP requests (to forge
// Host headers), WebSocket clients, and a small generated clip.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { LogLevel, ServerEvent } from '../../shared/events.ts';
import type { ModelInfo } from '../../shared/health.ts';
import type { JobRequestInput } from '../../shared/jobs.ts';
import { resolveFolders } from '../../companion/config.ts';
import { JobService } from '../../companion/jobs/service.ts';
import { startDaemon, type Daemon } from '../../companion/server/daemon.ts';
import type { ModelPullService } from '../../companion/hub/pull_jobs.ts';
import { loadOrCreateToken } from '../../companion/server/token.ts';
import { makeClip } from '../media/clips.ts';

/**
 * Pipeline test doubles, by query: `spin=…&calls=…` selects ./doubles/spin_pipeline.ts (pure
 * CPU in the worker); anything else goes to the job tests' double (`delay=<ms per step>&steps=<n>`,
 * which also sends previews).
 */
export function pipeline(query: string): URL {
  const file = query.includes('spin=') ? './doubles/spin_pipeline.ts' : '../jobs/doubles/invert_pipeline.ts';
  return new URL(`${file}?${query}`, import.meta.url);
}

export interface TestDaemon {
  daemon: Daemon;
  jobs: JobService;
  url: string;
  port: number;
  token: string;
  home: string;
  folders: ReturnType<typeof resolveFolders>;
  /** A 1-second 64x48 H.264 clip at 10 fps. */
  clip: string;
  close(): Promise<void>;
}

export interface TestDaemonOptions {
  pipeline?: string;
  concurrency?: number;
  allowedOrigins?: string[];
  heartbeatMs?: number;
  listModels?: () => Promise<ModelInfo[]>;
  requestTimeoutMs?: number;
  log?: (level: LogLevel, message: string) => void;
  modelPulls?: ModelPullService;
}

type TestContext = { after(fn: () => Promise<void> | void): void };

export async function startTestDaemon(t: TestContext, opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-server-'));
  const folders = resolveFolders({ TOKENFLOW_HOME: home });
  const token = await loadOrCreateToken(folders.configDir);
  const clip = await makeClip(path.join(home, 'clip.mp4'), { width: 64, height: 48, rate: '10', frames: 10 });
  const jobs = new JobService({
    dataDir: folders.dataDir,
    outputDir: folders.outputDir,
    concurrency: opts.concurrency ?? 1,
    pipelineModule: pipeline(opts.pipeline ?? 'delay=1&steps=2'),
    previewIntervalMs: 0,
  });
  await jobs.start();
  const daemon = await startDaemon({
    jobs,
    token,
    host: '127.0.0.1',
    port: 0,
    version: '0.0.0-test',
    allowedOrigins: opts.allowedOrigins,
    heartbeatMs: opts.heartbeatMs,
    listModels: opts.listModels,
    requestTimeoutMs: opts.requestTimeoutMs,
    log: opts.log,
    modelPulls: opts.modelPulls,
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await daemon.close();
    await jobs.close();
    fs.rmSync(home, { recursive: true, force: true });
  };
  t.after(close);
  return { daemon, jobs, url: daemon.url, port: daemon.port, token, home, folders, clip, close };
}

export function jobRequest(source: string, extra: Partial<JobRequestInput> = {}): JobRequestInput {
  return { source_path: source, range: { start_seconds: 0, end_seconds: 0.5 }, prompt: 'a red fox', ...extra };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body (undefined if none or not JSON). */
  json: any;
}

export interface RawRequest {
  method?: string;
  path: string;
  /** Sent exactly as given (no Host is added unless listed here). */
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** One HTTP request with exactly the headers given (so Host can be forged or left out). */
export function rawRequest(port: number, req: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    if (req.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(req.body));
    const r = http.request({ host: '127.0.0.1', port, method: req.method ?? 'GET', path: req.path, headers, setHost: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

/** A request from a well-behaved local client: right Host, the token, JSON body. */
export function api(d: TestDaemon, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return rawRequest(d.port, {
    method,
    path: urlPath,
    headers: {
      Host: `127.0.0.1:${d.port}`,
      Authorization: `Bearer ${d.token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** A connected events client that records every message. */
export class EventsClient {
  readonly messages: ServerEvent[] = [];
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as ServerEvent);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Resolves with the first recorded message (from index `from`) matching `predicate`. */
  async next<T extends ServerEvent>(predicate: (m: ServerEvent) => m is T, timeoutMs?: number, from?: number): Promise<T>;
  async next(predicate: (m: ServerEvent) => boolean, timeoutMs?: number, from?: number): Promise<ServerEvent>;
  async next(predicate: (m: ServerEvent) => boolean, timeoutMs = 15_000, from = 0): Promise<ServerEvent> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(predicate);
      if (found) return found;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got: ${this.messages.map((m) => m.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export interface ConnectOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  origin?: string;
  path?: string;
}

/** Opens `/v1/events` (or `path`); rejects with {status, json} if the upgrade is refused. */
export function connectEvents(d: Pick<TestDaemon, 'port' | 'token'>, opts: ConnectOptions = {}): Promise<EventsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}${opts.path ?? '/v1/events'}`, opts.protocols ?? [`bearer.${d.token}`], {
      headers: opts.headers,
      origin: opts.origin,
    });
    const client = new EventsClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        reject(Object.assign(new Error(`upgrade refused with ${res.statusCode}`), { status: res.statusCode, json }));
      });
    });
    ws.once('error', reject);
  });
}

/** Resolves when `predicate` holds, polling every 5 ms. */
export async function waitFor(predicate: () => boolean, ms = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
