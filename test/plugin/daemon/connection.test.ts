// The pairing/connection loop against the real daemon (and two impostors).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { DaemonError } from '../../../shared/daemon_client.ts';
import { DaemonConnection, PairingStateError, normalizeToken, TokenFormatError, type ConnectionStatus, type WebSocketLike } from '../../../plugin/src/daemon/connection.ts';
import { SecureTokenStore } from '../../../plugin/src/host/storage.ts';
import { startPanelDaemon } from '../daemon_harness.ts';
import { FakeSecureStorage } from '../fake_uxp.ts';

function connect(baseUrl: string, options: { backoffMs?: number[]; noSubprotocols?: boolean } = {}) {
  const secure = new FakeSecureStorage();
  const sockets: WebSocket[] = [];
  const connection = new DaemonConnection({
    baseUrl,
    fetch: (url, init) => fetch(url, init),
    openSocket: (url, protocols) => {
      if (options.noSubprotocols && protocols.length > 0) throw new SyntaxError('subprotocols are not supported here');
      const ws = new WebSocket(url, protocols);
      sockets.push(ws);
      return ws as unknown as WebSocketLike;
    },
    secrets: new SecureTokenStore(secure),
    backoffMs: options.backoffMs ?? [20, 40],
    slowRetryMs: 60_000,
  });
  const statuses: ConnectionStatus[] = [];
  const hellos: number[] = [];
  connection.subscribe({ status: (s) => statuses.push(s), hello: (h) => hellos.push(h.jobs.length) });
  return { connection, statuses, hellos, sockets, secure };
}

async function until(what: string, predicate: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function impostor(t: { after(fn: () => void): void }, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('token format: trimmed, "Bearer" tolerated, obvious typos refused', () => {
  const token = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_-01234';
  assert.equal(normalizeToken(`  ${token}\n`), token);
  assert.equal(normalizeToken(`Bearer ${token}`), token);
  assert.throws(() => normalizeToken('tokenflow token'), TokenFormatError);
  assert.throws(() => normalizeToken('abc+def/ghi=jklmnopqrstu'), TokenFormatError);
});

test('pairing: needs a token, refuses a wrong one, connects with the right one and keeps it', async (t) => {
  const d = await startPanelDaemon(t);
  const { connection, statuses, hellos, secure } = connect(d.url);
  t.after(() => connection.stop());
  connection.start();
  await until('needs_token', () => connection.status.kind === 'needs_token');
  await connection.submitToken('A'.repeat(43));
  await until('wrong_token', () => connection.status.kind === 'wrong_token');
  assert.match((connection.status as { message: string }).message, /wrong bearer token/);
  await connection.submitToken(d.token);
  await until('connected', () => connection.status.kind === 'connected');
  assert.equal(hellos.length, 1);
  assert.ok(connection.client);
  assert.equal((await connection.client!.health()).api_version, 'v1');
  assert.deepEqual([...new Set(statuses.map((s) => s.kind))], ['connecting', 'needs_token', 'wrong_token', 'connected']);
  assert.ok(secure.data.size === 1, 'token kept in secure storage');

  // A second panel session reads the stored token and never asks.
  const again = connect(d.url);
  t.after(() => again.connection.stop());
  for (const [k, v] of secure.data) again.secure.data.set(k, v);
  again.connection.start();
  await until('second connected', () => again.connection.status.kind === 'connected');
  assert.ok(!again.statuses.some((s) => s.kind === 'needs_token'));
});

test('pairing with a code: wrong codes keep the request, three void it, the right code connects; Unpair forgets', async (t) => {
  const d = await startPanelDaemon(t);
  const { connection, secure } = connect(d.url);
  t.after(() => connection.stop());
  connection.start();
  await until('needs_token', () => connection.status.kind === 'needs_token');
  await assert.rejects(connection.confirmPairing('123456'), PairingStateError);

  const first = await connection.startPairing();
  assert.ok(Date.parse(first.expires_at) > Date.now());
  const wrong = d.pairingCode() === '000000' ? '000001' : '000000';
  for (const left of ['2 tries left', '1 try left']) {
    await assert.rejects(connection.confirmPairing(wrong), (err: DaemonError) => err.code === 'pairing_refused' && err.message.includes(left));
    assert.equal(connection.pairingPending, true);
  }
  await assert.rejects(connection.confirmPairing(wrong), (err: DaemonError) => /void/.test(err.message));
  assert.equal(connection.pairingPending, false, 'a void request is not retried');
  assert.equal(secure.data.size, 0);

  await connection.startPairing();
  await connection.confirmPairing(d.pairingCode());
  await until('connected', () => connection.status.kind === 'connected');
  assert.equal(secure.data.size, 1, 'the paired token is kept in secure storage');
  await connection.forgetToken();
  await until('needs_token after Unpair', () => connection.status.kind === 'needs_token');
  assert.equal(secure.data.size, 0);
});

test('not running, then the daemon appears: the panel connects by itself', async (t) => {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const { connection, statuses } = connect(`http://127.0.0.1:${port}`);
  t.after(() => connection.stop());
  connection.start();
  await until('not_running', () => connection.status.kind === 'not_running');
  assert.ok(statuses.filter((s) => s.kind === 'not_running').length >= 1);
  // Something that is not TokenFlow takes the port.
  const other = http.createServer((_req, res) => res.end('<html>hello</html>'));
  await new Promise<void>((resolve) => other.listen(port, '127.0.0.1', resolve));
  t.after(() => other.close());
  connection.retryNow();
  await until('not_tokenflow', () => connection.status.kind === 'not_tokenflow');
});

test('a daemon of another API version is reported as such', async (t) => {
  const url = await impostor(t, (_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ service: 'tokenflow', api_version: 'v2', authenticated: false }));
  });
  const { connection } = connect(url);
  t.after(() => connection.stop());
  connection.start();
  await until('version_mismatch', () => connection.status.kind === 'version_mismatch');
  assert.deepEqual(connection.status, { kind: 'version_mismatch', daemonApi: 'v2', retryInMs: 60_000 });
});

test('connection lost: reconnecting with backoff, then a fresh hello', async (t) => {
  const d = await startPanelDaemon(t);
  const { connection, hellos, sockets, secure } = connect(d.url, { backoffMs: [30, 60] });
  t.after(() => connection.stop());
  await secure.setItem('tokenflow.daemon-token', d.token);
  connection.start();
  await until('connected', () => connection.status.kind === 'connected');
  await d.stop();
  await until('reconnecting', () => connection.status.kind === 'reconnecting');
  assert.equal(connection.client, undefined);
  await d.restart();
  await until('reconnected', () => connection.status.kind === 'connected' && hellos.length === 2, 10_000);
  assert.ok(sockets.length >= 2);
});

test('a WebSocket without subprotocol support falls back to the token in the query', async (t) => {
  const d = await startPanelDaemon(t);
  const { connection, sockets, secure } = connect(d.url, { noSubprotocols: true });
  t.after(() => connection.stop());
  await secure.setItem('tokenflow.daemon-token', d.token);
  connection.start();
  await until('connected', () => connection.status.kind === 'connected');
  assert.equal(sockets.length, 1);
  assert.match(sockets[0].url, /\/v1\/events\?token=/);
});
