// Pairing without a terminal, against a real daemon on 127.0.0.1: the panel starts a pairing,
// the code appears only in the daemon's log, the right code returns the token, and every way
// it can go wrong (wrong code, too many tries, expiry, replaced request, a web page or an
// --allow-origin page, a forged Host) is refused with a reason. The expiry and rate limit are
// checked on the PairingDesk with a fake clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorBody } from '../../shared/errors.ts';
import { PairingGranted, PairingStarted } from '../../shared/pairing.ts';
import { PairingDesk } from '../../companion/server/pairing.ts';
import { ApiError } from '../../companion/server/errors.ts';
import { rawRequest, startTestDaemon, type RawResponse, type TestDaemon } from './helpers.ts';

const PANEL_ORIGIN = 'uxp://com.tokenflow.premiere';

async function pairingDaemon(t: { after(fn: () => Promise<void> | void): void }, allowedOrigins?: string[]) {
  const lines: string[] = [];
  const d = await startTestDaemon(t, { allowedOrigins, log: (_level, message) => lines.push(message) });
  /** The code of the newest announcement in the log. */
  const lastCode = () => {
    const found = lines.filter((l) => l.startsWith('PAIRING CODE')).at(-1);
    const m = found === undefined ? null : /: (\d{3}) (\d{3}) /.exec(found);
    assert.ok(m, `no pairing code in the log:\n${lines.join('\n')}`);
    return `${m[1]} ${m[2]}`;
  };
  return { d, lines, lastCode };
}

function post(d: TestDaemon, path: string, body?: unknown, headers: Record<string, string> = { Origin: PANEL_ORIGIN }): Promise<RawResponse> {
  return rawRequest(d.port, {
    method: 'POST',
    path,
    headers: { Host: `127.0.0.1:${d.port}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function refusal(res: RawResponse, status: number, code: string): string {
  assert.equal(res.status, status, res.text);
  const body = ErrorBody.parse(res.json);
  assert.equal(body.error.code, code);
  return body.error.message;
}

describe('pairing over HTTP', () => {
  test('the right code returns the daemon token, once; the code is never in an answer', async (t) => {
    const { d, lastCode } = await pairingDaemon(t);
    const started = await post(d, '/v1/pair');
    assert.equal(started.status, 201, started.text);
    const info = PairingStarted.parse(started.json);
    const code = lastCode();
    assert.ok(!started.text.includes(code.replace(' ', '')), 'the code must only be shown to the user');
    const granted = await post(d, `/v1/pair/${info.pairing_id}/confirm`, { code: code.replace(' ', '-') });
    assert.equal(granted.status, 200, granted.text);
    assert.equal(PairingGranted.parse(granted.json).token, d.token);
    // The token works; the same request cannot be used twice.
    const health = await rawRequest(d.port, { path: '/v1/health', headers: { Host: `127.0.0.1:${d.port}`, Authorization: `Bearer ${d.token}` } });
    assert.equal(health.json.version, '0.0.0-test');
    refusal(await post(d, `/v1/pair/${info.pairing_id}/confirm`, { code }), 404, 'not_found');
  });

  test('a wrong code says how many tries are left; the third voids the request', async (t) => {
    const { d, lastCode } = await pairingDaemon(t);
    const info = PairingStarted.parse((await post(d, '/v1/pair')).json);
    const right = lastCode().replace(' ', '');
    const wrong = right === '000000' ? '000001' : '000000';
    assert.match(refusal(await post(d, `/v1/pair/${info.pairing_id}/confirm`, { code: wrong }), 403, 'pairing_refused'), /2 tries left/);
    assert.match(refusal(await post(d, `/v1/pair/${info.pairing_id}/confirm`, { code: 'abc' }), 403, 'pairing_refused'), /1 try left/);
    assert.match(refusal(await post(d, `/v1/pair/${info.pairing_id}/confirm`, { code: wrong }), 403, 'pairing_refused'), /void/);
    refusal(await post(d, `/v1/pair/${info.pairing_id}/confirm`, { code: right }), 404, 'not_found');
  });

  test('a new pairing request replaces the old one', async (t) => {
    const { d, lastCode } = await pairingDaemon(t);
    const first = PairingStarted.parse((await post(d, '/v1/pair')).json);
    const firstCode = lastCode();
    const second = PairingStarted.parse((await post(d, '/v1/pair')).json);
    assert.match(refusal(await post(d, `/v1/pair/${first.pairing_id}/confirm`, { code: firstCode }), 404, 'not_found'), /replaced|start pairing again/);
    const granted = await post(d, `/v1/pair/${second.pairing_id}/confirm`, { code: lastCode() });
    assert.equal(granted.status, 200, granted.text);
  });

  test('web pages, --allow-origin pages and forged Hosts cannot pair; the panel without Origin can', async (t) => {
    const { d, lines } = await pairingDaemon(t, ['https://trusted.example']);
    refusal(await post(d, '/v1/pair', undefined, { Origin: 'https://evil.example' }), 403, 'forbidden');
    refusal(await post(d, '/v1/pair', undefined, { Origin: 'null' }), 403, 'forbidden');
    assert.match(refusal(await post(d, '/v1/pair', undefined, { Origin: 'https://trusted.example' }), 403, 'forbidden'), /only the TokenFlow panel/);
    refusal(await post(d, '/v1/pair', undefined, { 'Sec-Fetch-Site': 'cross-site' }), 403, 'forbidden');
    const rebound = await rawRequest(d.port, { method: 'POST', path: '/v1/pair', headers: { Host: `evil.example:${d.port}`, Origin: PANEL_ORIGIN } });
    refusal(rebound, 403, 'forbidden');
    assert.equal(lines.filter((l) => l.startsWith('PAIRING CODE')).length, 0, 'no refused request may produce a code');
    // A form post (not JSON) is refused before anything else happens.
    const form = await rawRequest(d.port, { method: 'POST', path: '/v1/pair', headers: { Host: `127.0.0.1:${d.port}`, 'Content-Type': 'text/plain' }, body: 'x' });
    refusal(form, 415, 'unsupported_media_type');
    const plain = await post(d, '/v1/pair', undefined, {});
    assert.equal(plain.status, 201, plain.text);
  });
});

describe('PairingDesk', () => {
  const desk = (now: { t: number }) => {
    const codes: string[] = [];
    const d = new PairingDesk({ token: 'T'.repeat(43), announce: (c) => codes.push(c.replace(' ', '')), now: () => now.t });
    return { d, codes };
  };

  test('an expired code is refused with 410 and why', () => {
    const now = { t: 1_000_000 };
    const { d, codes } = desk(now);
    const started = d.start();
    assert.equal(new Date(started.expires_at).getTime(), 1_000_000 + 120_000);
    now.t += 120_001;
    assert.throws(() => d.confirm(started.pairing_id, codes[0]!), (err: ApiError) => err.status === 410 && err.code === 'pairing_expired' && /expired after 120 s/.test(err.message));
  });

  test('a code confirmed in time returns the token', () => {
    const now = { t: 0 };
    const { d, codes } = desk(now);
    const started = d.start();
    now.t += 119_000;
    assert.equal(d.confirm(started.pairing_id, codes[0]!), 'T'.repeat(43));
  });

  test('pairing may start 5 times in 10 minutes; the 6th is a 429 saying when to retry', () => {
    const now = { t: 0 };
    const { d } = desk(now);
    for (let i = 0; i < 5; i++) d.start();
    now.t = 20_000;
    assert.throws(() => d.start(), (err: ApiError) => err.status === 429 && /5 times in the last 10 minutes; try again in 580 s/.test(err.message));
    now.t = 600_001;
    assert.doesNotThrow(() => d.start());
  });

  test('codes are 6 digits and not all the same', () => {
    const { d, codes } = desk({ t: 0 });
    const fresh = () => new PairingDesk({ token: 'x'.repeat(43), announce: (c) => codes.push(c.replace(' ', '')) });
    d.start();
    for (let i = 0; i < 20; i++) fresh().start();
    assert.ok(codes.every((c) => /^\d{6}$/.test(c)));
    assert.ok(new Set(codes).size > 15);
  });
});
