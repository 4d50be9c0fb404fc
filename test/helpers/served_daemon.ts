// A real `tokenflow serve` (bin/tokenflow.mjs in a child process) on 127.0.0.1 with its home
// in a temp folder, the bundled tiny model and the real ffmpeg, plus a WebSocket event feed:
// for tests that cancel, stop and kill the daemon the way a user does.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { ServerEvent } from '../../shared/events.ts';
import type { JobRecord } from '../../shared/jobs.ts';
import { BIN } from './cli.ts';

export interface ServedDaemon {
  child: ChildProcess;
  url: string;
  /** Everything it printed so far. */
  output(): string;
  /** Every event received on /v1/events since start. */
  events: ServerEvent[];
  /** An authenticated request; the body is sent as JSON. */
  request(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }>;
  job(id: string): Promise<JobRecord>;
  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function daemonEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TOKENFLOW_HOME: home, HF_HUB_CACHE: path.join(home, 'hf'), TOKENFLOW_MODELS: '' };
  for (const key of ['TOKENFLOW_URL', 'TOKENFLOW_PORT', 'TOKENFLOW_MODEL', 'TOKENFLOW_OUTPUT_DIR', 'TOKENFLOW_CACHE_DIR']) delete env[key];
  return env;
}

/** `extraArgs`: more `tokenflow serve` options (e.g. --queue). */
export async function serveDaemon(home: string, extraArgs: string[] = []): Promise<ServedDaemon> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...extraArgs], { env: daemonEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 60 s:\n${out}`)), 60_000);
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`serve exited early:\n${out}`)));
  });
  const token = fs.readFileSync(path.join(home, 'config', 'token'), 'utf8').trim();
  const events: ServerEvent[] = [];
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/events`, [`bearer.${token}`]);
  ws.on('message', (data) => events.push(JSON.parse(String(data)) as ServerEvent));
  ws.on('error', () => {}); // the daemon is killed under it in some tests
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const request = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${url}${route}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  return {
    child,
    url,
    output: () => out,
    events,
    request,
    job: async (id) => (await request('GET', `/v1/jobs/${id}`)).json as JobRecord,
    async stop(signal = 'SIGTERM') {
      ws.terminate();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Resolves when `predicate` holds (polled every 5 ms); rejects after `ms`. */
export async function until(predicate: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
