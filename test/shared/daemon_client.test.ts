// The shared daemon client: what it sends, how it reads answers, and the one error type for
// every failure. The daemon's side is a recording fetch here; the panel's connection tests and
// the CLI tests run the same client against the real daemon.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { DaemonClient, DaemonError, type FetchLike } from '../../shared/daemon_client.ts';
import { CLIENT_ERROR_CODES, ERROR_CODES } from '../../shared/errors.ts';

const TOKEN = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_-01234';
const JOB_ID = '00000000-0000-4000-8000-000000000000';

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A fetch that records each request and answers with `status` and `body` (a string as is, else JSON). */
function answering(status: number, body?: unknown): { fetch: FetchLike; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch: FetchLike = async (url, init) => {
    sent.push({ url, method: init.method ?? 'GET', headers: init.headers as Record<string, string>, body: init.body as string | undefined });
    const text = body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body);
    return new Response(text, { status });
  };
  return { fetch, sent };
}

async function rejection(promise: Promise<unknown>): Promise<DaemonError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DaemonError, `a DaemonError, got ${String(err)}`);
    return err;
  }
  assert.fail('the request should have failed');
}

test('a refusal carries the daemon status, code, message, field and the request', async () => {
  const { fetch, sent } = answering(404, { error: { code: 'not_found', message: `no job with id ${JOB_ID}`, field: 'id' } });
  const client = new DaemonClient({ baseUrl: 'http://127.0.0.1:43117//', token: TOKEN, fetch });
  const err = await rejection(client.getJob(JOB_ID));
  assert.equal(err.status, 404);
  assert.equal(err.code, 'not_found');
  assert.equal(err.message, `no job with id ${JOB_ID}`);
  assert.equal(err.field, 'id');
  assert.deepEqual(err.request, { method: 'GET', url: `http://127.0.0.1:43117/v1/jobs/${JOB_ID}` });
  assert.equal(err.unreachable, false);
  assert.equal(err.protocolMismatch, false);
  assert.equal(sent[0]!.url, `http://127.0.0.1:43117/v1/jobs/${JOB_ID}`, 'trailing slashes of the base are dropped');
  assert.equal(sent[0]!.headers.Authorization, `Bearer ${TOKEN}`);
  assert.equal(sent[0]!.body, undefined);
});

test('a body goes as JSON; path parameters are encoded; 204 resolves with nothing', async () => {
  const { fetch, sent } = answering(204);
  const client = new DaemonClient({ baseUrl: 'http://127.0.0.1:43117', token: TOKEN, fetch });
  await client.deletePreset('my look/2');
  assert.equal(sent[0]!.method, 'DELETE');
  assert.equal(sent[0]!.url, 'http://127.0.0.1:43117/v1/presets/my%20look%2F2');

  const put = answering(400, { error: { code: 'bad_request', message: 'preset body field "parameters.steps": too big', field: 'parameters.steps' } });
  const err = await rejection(new DaemonClient({ baseUrl: 'http://127.0.0.1:43117', token: TOKEN, fetch: put.fetch }).putPreset('look', { description: 'd', prompt: 'p', parameters: { steps: 9999 } }));
  assert.equal(err.field, 'parameters.steps');
  assert.equal(put.sent[0]!.method, 'PUT');
  assert.equal(put.sent[0]!.headers['Content-Type'], 'application/json');
  assert.deepEqual(JSON.parse(put.sent[0]!.body!), { description: 'd', prompt: 'p', parameters: { steps: 9999 } });
});

test('answers outside the API are protocol mismatches, with the status the daemon sent', async () => {
  const html = await rejection(new DaemonClient({ baseUrl: 'http://h:1', token: TOKEN, fetch: answering(502, '<html>bad gateway</html>').fetch }).listJobs());
  assert.equal(html.code, 'protocol_mismatch');
  assert.equal(html.status, 502);
  assert.equal(html.message, 'GET /v1/jobs answered HTTP 502 with something other than JSON: is this the TokenFlow daemon?');

  const bare = await rejection(new DaemonClient({ baseUrl: 'http://h:1', token: TOKEN, fetch: answering(500, { oops: true }).fetch }).listJobs());
  assert.equal(bare.code, 'protocol_mismatch');
  assert.equal(bare.message, 'GET /v1/jobs failed with HTTP 500');

  const shape = await rejection(new DaemonClient({ baseUrl: 'http://h:1', token: TOKEN, fetch: answering(200, { jobs: 'none' }).fetch }).listJobs());
  assert.equal(shape.code, 'protocol_mismatch');
  assert.equal(shape.status, 200);
  assert.match(shape.message, /^GET \/v1\/jobs: the daemon's answer does not match this client's API v1 \(jobs: /);
  assert.ok(shape.protocolMismatch);

  const other = await rejection(new DaemonClient({ baseUrl: 'http://h:1', fetch: answering(200, { status: 'ok' }).fetch }).publicHealth());
  assert.equal(other.code, 'protocol_mismatch');
  assert.equal(other.message, 'the program at http://h:1 is not a TokenFlow daemon');
});

test('public health needs no token and reads the API version of any TokenFlow daemon', async () => {
  const { fetch, sent } = answering(200, { service: 'tokenflow', api_version: 'v2', authenticated: false });
  assert.deepEqual(await new DaemonClient({ baseUrl: 'http://h:1', fetch }).publicHealth(), { service: 'tokenflow', apiVersion: 'v2' });
  assert.equal(sent[0]!.headers.Authorization, undefined);
});

test('an authenticated call without a token is refused before anything is sent', async () => {
  const { fetch, sent } = answering(200, { jobs: [] });
  const err = await rejection(new DaemonClient({ baseUrl: 'http://h:1', fetch }).listJobs());
  assert.equal(err.status, 401);
  assert.equal(err.code, 'unauthorized');
  assert.equal(err.message, 'no token: pair the panel with the daemon first');
  assert.equal(sent.length, 0);
  assert.equal(new DaemonClient({ baseUrl: 'http://h:1', fetch }).withToken(TOKEN).eventsUrl(), 'ws://h:1/v1/events');
});

test('nothing listening: status 0, daemon_unreachable, the reason and what to do', async () => {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const client = new DaemonClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN, fetch: (url, init) => fetch(url, init) });
  const err = await rejection(client.listJobs());
  assert.equal(err.status, 0);
  assert.equal(err.code, 'daemon_unreachable');
  assert.ok(err.unreachable);
  assert.equal(err.message, `no TokenFlow daemon answers at http://127.0.0.1:${port} (connection refused); start it with \`tokenflow serve\``);
  assert.ok(err.cause instanceof Error);
});

test('a daemon that does not answer in time is unreachable, "timed out"', async (t) => {
  const silent = http.createServer(() => {
    // never answers
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const base = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const client = new DaemonClient({ baseUrl: base, token: TOKEN, fetch: (url, init) => fetch(url, init), timeoutMs: 100 });
  const err = await rejection(client.health());
  assert.equal(err.code, 'daemon_unreachable');
  assert.equal(err.message, `no TokenFlow daemon answers at ${base} (timed out); start it with \`tokenflow serve\``);
});

test('client codes never collide with the codes the daemon sends', () => {
  for (const code of CLIENT_ERROR_CODES) assert.ok(!(ERROR_CODES as readonly string[]).includes(code), code);
});

test('shared/ runs in the panel: no Node module, no environment', async () => {
  const dir = path.join(import.meta.dirname, '..', '..', 'shared');
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('daemon_client.ts'));
  for (const file of files) {
    const text = await fs.readFile(path.join(dir, file), 'utf8');
    assert.doesNotMatch(text, /from '(node:|fs'|path'|os'|http'|child_process')/, `${file} imports a Node module`);
    assert.doesNotMatch(text, /process\.(env|platform)/, `${file} reads the environment`);
  }
});
