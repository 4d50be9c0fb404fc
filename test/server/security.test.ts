// The daemon's refusals, over real HTTP and WebSocket connections: token, Host (DNS
// rebinding), Origin, body limits, strict validation, path traversal. Every refusal must be
// a JSON error with a code, and no answer may carry a CORS wildcard.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { before, after, describe, test } from 'node:test';
import { ErrorBody } from '../../shared/errors.ts';
import { api, connectEvents, rawRequest, startTestDaemon, jobRequest, type RawResponse, type TestDaemon } from './helpers.ts';

function assertRefusal(res: RawResponse, status: number, code: string, field?: string): void {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = ErrorBody.parse(res.json);
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 0);
  if (field !== undefined) assert.equal(body.error.field, field);
  assert.notEqual(res.headers['access-control-allow-origin'], '*');
}

describe('daemon security', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({ after: () => {} });
  });
  after(() => d.close());

  const authed = (extra: Record<string, string> = {}) => ({ Host: `127.0.0.1:${d.port}`, Authorization: `Bearer ${d.token}`, ...extra });

  test('the token is 43 base64url characters', () => {
    assert.match(d.token, /^[A-Za-z0-9_-]{43}$/);
  });

  test('a request without a token is refused with 401 and WWW-Authenticate', async () => {
    const res = await rawRequest(d.port, { path: '/v1/jobs', headers: { Host: `127.0.0.1:${d.port}` } });
    assertRefusal(res, 401, 'unauthorized');
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
  });

  test('a wrong token (same length, other length, other scheme) is refused with 401', async () => {
    const flipped = (d.token[0] === 'A' ? 'B' : 'A') + d.token.slice(1);
    for (const auth of [`Bearer ${flipped}`, `Bearer ${d.token}x`, `Bearer ${d.token.slice(0, 10)}`, `Basic ${d.token}`, 'Bearer', `Token ${d.token}`]) {
      const res = await rawRequest(d.port, { path: '/v1/jobs', headers: { Host: `127.0.0.1:${d.port}`, Authorization: auth } });
      assertRefusal(res, 401, 'unauthorized');
    }
  });

  test('the right token is accepted on every loopback Host spelling', async () => {
    for (const host of [`127.0.0.1:${d.port}`, `localhost:${d.port}`, `LOCALHOST:${d.port}`, `[::1]:${d.port}`]) {
      const res = await rawRequest(d.port, { path: '/v1/jobs', headers: authed({ Host: host }) });
      assert.equal(res.status, 200, `${host}: ${res.text}`);
      assert.deepEqual(res.json, { jobs: [] });
    }
  });

  test('forged Host headers are refused with 403, even with the right token', async () => {
    const hosts = [
      'evil.com',
      `evil.com:${d.port}`,
      '',
      `localhost.evil.com:${d.port}`,
      `127.0.0.1.nip.io:${d.port}`,
      `localhost.:${d.port}`,
      `:${d.port}`,
      `127.0.0.1:${d.port + 1}`,
      '127.0.0.1',
      'localhost',
      `127.0.0.2:${d.port}`,
      `192.168.1.10:${d.port}`,
      `localhost:${d.port}@evil.com`,
    ];
    for (const host of hosts) {
      const res = await rawRequest(d.port, { path: '/v1/jobs', headers: authed({ Host: host }) });
      assertRefusal(res, 403, 'forbidden');
      assert.match(res.json.error.message, /Host/);
    }
  });

  test('a request with no Host header at all is refused', async () => {
    const res = await rawRequest(d.port, { path: '/v1/health', headers: { Authorization: `Bearer ${d.token}` } });
    assertRefusal(res, 403, 'forbidden');
  });

  test('the public health also checks the Host (no daemon detection through DNS rebinding)', async () => {
    const res = await rawRequest(d.port, { path: '/v1/health', headers: { Host: `evil.com:${d.port}` } });
    assertRefusal(res, 403, 'forbidden');
  });

  test('hostile browser Origins are refused with 403, even with the right token', async () => {
    const origins = [
      'https://evil.com',
      'http://evil.com',
      'null',
      `http://127.0.0.1:${d.port}`,
      'http://localhost:3000',
      'chrome-extension://abcdefghijklmnop',
      'moz-extension://1234',
      'file://',
      'isolated-app://x',
      'chrome-untrusted://x',
      'app://x',
      'vscode-webview://x',
      'x-evil://foo',
      'not an origin',
    ];
    for (const origin of origins) {
      const res = await rawRequest(d.port, { path: '/v1/jobs', headers: authed({ Origin: origin }) });
      assertRefusal(res, 403, 'forbidden');
      assert.match(res.json.error.message, /Origin/);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
    }
  });

  test('a hostile Origin cannot read the public health either', async () => {
    const res = await rawRequest(d.port, { path: '/v1/health', headers: { Host: `127.0.0.1:${d.port}`, Origin: 'https://evil.com' } });
    assertRefusal(res, 403, 'forbidden');
  });

  test('a cross-site browser request without an Origin (e.g. <img>) is refused by Sec-Fetch-Site', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const res = await rawRequest(d.port, { path: '/v1/health', headers: { Host: `127.0.0.1:${d.port}`, 'Sec-Fetch-Site': site } });
      assertRefusal(res, 403, 'forbidden');
    }
    const typed = await rawRequest(d.port, { path: '/v1/health', headers: { Host: `127.0.0.1:${d.port}`, 'Sec-Fetch-Site': 'none' } });
    assert.equal(typed.status, 200);
  });

  test('a UXP-runtime Origin is accepted but not echoed: CORS answers are for --allow-origin only', async () => {
    const origin = 'uxp://com.tokenflow.premiere';
    const res = await rawRequest(d.port, { path: '/v1/jobs', headers: authed({ Origin: origin }) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const preflight = await rawRequest(d.port, {
      method: 'OPTIONS',
      path: '/v1/jobs',
      headers: { Host: `127.0.0.1:${d.port}`, Origin: origin, 'Access-Control-Request-Method': 'POST' },
    });
    assert.notEqual(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  });

  test('two Host headers in one request are a 400, whichever comes first', async () => {
    for (const hosts of [[`127.0.0.1:${d.port}`, 'evil.com'], ['evil.com', `127.0.0.1:${d.port}`]]) {
      const text = await rawExchange(d.port, `GET /v1/jobs HTTP/1.1\r\nHost: ${hosts[0]}\r\nHost: ${hosts[1]}\r\nAuthorization: Bearer ${d.token}\r\nConnection: close\r\n\r\n`);
      assert.match(text, /^HTTP\/1\.1 400 /, text);
      assert.match(text, /2 Host headers/);
    }
  });

  test('a preflight from a hostile Origin is refused', async () => {
    const res = await rawRequest(d.port, {
      method: 'OPTIONS',
      path: '/v1/jobs',
      headers: { Host: `127.0.0.1:${d.port}`, Origin: 'https://evil.com', 'Access-Control-Request-Method': 'POST' },
    });
    assertRefusal(res, 403, 'forbidden');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });

  test('requests without an Origin get no CORS headers at all', async () => {
    const res = await rawRequest(d.port, { path: '/v1/jobs', headers: authed() });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });

  test('a body over 64 KiB is refused with 413', async () => {
    const body = JSON.stringify(jobRequest(d.clip, { prompt: 'x'.repeat(70 * 1024) }));
    const res = await rawRequest(d.port, { method: 'POST', path: '/v1/jobs', headers: authed({ 'Content-Type': 'application/json' }), body });
    assertRefusal(res, 413, 'payload_too_large');
  });

  test('an oversized body from a client without the token is refused before it is read', async () => {
    const res = await rawRequest(d.port, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { Host: `127.0.0.1:${d.port}`, 'Content-Type': 'application/json' },
      body: 'x'.repeat(200 * 1024),
    });
    assertRefusal(res, 401, 'unauthorized');
  });

  test('malformed JSON is refused with 400', async () => {
    for (const body of ['{"source_path": ', '{bad json}', 'null', '[1,2', '"just a string"']) {
      const res = await rawRequest(d.port, { method: 'POST', path: '/v1/jobs', headers: authed({ 'Content-Type': 'application/json' }), body });
      assertRefusal(res, 400, 'bad_request');
    }
  });

  test('a body that is not JSON is refused with 415 (no form posts)', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await rawRequest(d.port, { method: 'POST', path: '/v1/jobs', headers: authed({ 'Content-Type': type }), body: 'a=b' });
      assertRefusal(res, 415, 'unsupported_media_type');
    }
  });

  test('unknown fields are refused with 400 naming the field', async () => {
    const top = await api(d, 'POST', '/v1/jobs', { ...jobRequest(d.clip), run_shell: 'rm -rf /' });
    assertRefusal(top, 400, 'bad_request', 'run_shell');
    const nested = await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { parameters: { steps: 10, evil: 1 } as never }));
    assertRefusal(nested, 400, 'bad_request', 'parameters.evil');
    const preset = await api(d, 'PUT', '/v1/presets/mine', { description: 'd', prompt: 'a {prompt}', extra: true });
    assertRefusal(preset, 400, 'bad_request', 'extra');
  });

  test('invalid values are refused with 400 naming the field', async () => {
    const steps = await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { parameters: { steps: 0 } }));
    assertRefusal(steps, 400, 'bad_request', 'parameters.steps');
    const relative = await api(d, 'POST', '/v1/jobs', jobRequest('clip.mp4'));
    assertRefusal(relative, 400, 'bad_request', 'source_path');
    const nul = await api(d, 'POST', '/v1/jobs', jobRequest(`${d.clip}\u0000.mov`));
    assertRefusal(nul, 400, 'bad_request', 'source_path');
    const missing = await api(d, 'POST', '/v1/jobs', { source_path: d.clip, range: { start_seconds: 0, end_seconds: 1 } });
    assertRefusal(missing, 400, 'bad_request', 'prompt');
  });

  test('unknown query parameters are refused with 400 naming them', async () => {
    const res = await api(d, 'GET', '/v1/jobs?debug=1');
    assertRefusal(res, 400, 'bad_request', 'debug');
    const files = await api(d, 'DELETE', `/v1/jobs/00000000-0000-4000-8000-000000000000?files=yes`);
    assertRefusal(files, 400, 'bad_request', 'files');
  });

  test('path traversal in job ids is refused with 400', async () => {
    for (const id of ['..%2F..%2Fetc%2Fpasswd', '%2e%2e', '..', 'a%00b', '%2e%2e%2fjobs', 'not-a-uuid']) {
      for (const [method, suffix] of [['GET', ''], ['DELETE', ''], ['POST', '/cancel']] as const) {
        const res = await api(d, method, `/v1/jobs/${id}${suffix}`);
        assertRefusal(res, 400, 'bad_request', 'id');
      }
    }
  });

  test('path traversal in preset names is refused and writes nothing', async () => {
    const body = { description: 'd', prompt: 'a {prompt}' };
    for (const name of ['..%2Fx', '%2e%2e', '%2E%2E%2F%2E%2E%2Fpwned', 'a%00b', '..', 'x%5C..%5Cy', 'UPPER', '.hidden']) {
      const put = await api(d, 'PUT', `/v1/presets/${name}`, body);
      assertRefusal(put, 400, 'bad_request', 'name');
      const del = await api(d, 'DELETE', `/v1/presets/${name}`);
      assertRefusal(del, 400, 'bad_request', 'name');
    }
    // An unencoded ../ never reaches a handler (the route does not match).
    const raw = await rawRequest(d.port, { method: 'PUT', path: '/v1/presets/../x', headers: authed({ 'Content-Type': 'application/json' }), body: JSON.stringify(body) });
    assertRefusal(raw, 404, 'not_found');
    const written = fs.readdirSync(d.home, { recursive: true }).map(String);
    assert.ok(!written.some((f) => /pwned|(^|[\\/])x\.json$/.test(f)), `unexpected files: ${written.join(', ')}`);
    assert.ok(!fs.existsSync(path.join(d.folders.dataDir, 'x.json')));
  });

  test('an undecodable %-escape is a 400, not a crash', async () => {
    const res = await api(d, 'GET', '/v1/jobs/%E0%A4%A');
    assertRefusal(res, 400, 'bad_request');
    const health = await api(d, 'GET', '/v1/health');
    assert.equal(health.status, 200);
  });

  test('requests the HTTP parser rejects get a JSON error too', async () => {
    const garbage = await rawExchange(d.port, 'GARBAGE\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.equal(ErrorBody.parse(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4))).error.code, 'bad_request');
    const huge = await rawRequest(d.port, { path: '/v1/health', headers: { Host: `127.0.0.1:${d.port}`, 'X-Big': 'x'.repeat(20_000) } });
    assertRefusal(huge, 431, 'payload_too_large');
  });

  test('unknown routes are a JSON 404 (after the token check)', async () => {
    assertRefusal(await api(d, 'GET', '/v1/nope'), 404, 'not_found');
    assertRefusal(await api(d, 'GET', '/'), 404, 'not_found');
    assertRefusal(await rawRequest(d.port, { path: '/v1/nope', headers: { Host: `127.0.0.1:${d.port}` } }), 401, 'unauthorized');
  });

  test('answers carry no-store, nosniff and no X-Powered-By', async () => {
    const res = await api(d, 'GET', '/v1/jobs');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-powered-by'], undefined);
  });

  describe('WebSocket upgrade', () => {
    async function refusedWith(promise: Promise<unknown>, status: number, code: string): Promise<void> {
      await assert.rejects(promise, (err: { status?: number; json?: unknown }) => {
        assert.equal(err.status, status);
        assert.equal(ErrorBody.parse(err.json).error.code, code);
        return true;
      });
    }

    test('without a token: 401 with a JSON body', async () => {
      await refusedWith(connectEvents(d, { protocols: [] }), 401, 'unauthorized');
    });

    test('with a wrong token (subprotocol or query): 401', async () => {
      await refusedWith(connectEvents(d, { protocols: ['bearer.wrongwrongwrong'] }), 401, 'unauthorized');
      await refusedWith(connectEvents(d, { protocols: [], path: '/v1/events?token=wrong' }), 401, 'unauthorized');
    });

    test('with a forged Host: 403, even with the right token', async () => {
      for (const host of ['evil.com', `localhost.evil.com:${d.port}`, `127.0.0.1:${d.port + 1}`]) {
        await refusedWith(connectEvents(d, { headers: { Host: host } }), 403, 'forbidden');
      }
    });

    test('from a hostile Origin or Origin: null: 403, even with the right token', async () => {
      for (const origin of ['https://evil.com', 'null', `http://localhost:${d.port}`]) {
        await refusedWith(connectEvents(d, { origin }), 403, 'forbidden');
      }
    });

    test('on another path: 404', async () => {
      await refusedWith(connectEvents(d, { path: '/v1/other' }), 404, 'not_found');
    });

    test('the accepted bearer subprotocol is echoed; ?token= works too', async () => {
      const a = await connectEvents(d);
      assert.equal(a.ws.protocol, `bearer.${d.token}`);
      const hello = await a.next((m) => m.type === 'hello');
      assert.equal(hello.type, 'hello');
      await a.close();
      const b = await connectEvents(d, { protocols: [], path: `/v1/events?token=${d.token}` });
      assert.equal(b.ws.protocol, '');
      await b.next((m) => m.type === 'hello');
      await b.close();
    });
  });
});

test('an Origin the user allowed explicitly (here "null") is accepted', async (t) => {
  const d = await startTestDaemon(t, { allowedOrigins: ['null'] });
  const res = await api(d, 'GET', '/v1/jobs', undefined, { Origin: 'null' });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers['access-control-allow-origin'], 'null');
  const hostile = await api(d, 'GET', '/v1/jobs', undefined, { Origin: 'https://evil.com' });
  assertRefusal(hostile, 403, 'forbidden');
  const preflight = await rawRequest(d.port, {
    method: 'OPTIONS',
    path: '/v1/jobs',
    headers: { Host: `127.0.0.1:${d.port}`, Origin: 'null', 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers['access-control-allow-origin'], 'null');
  assert.match(String(preflight.headers['access-control-allow-headers']), /Authorization/);
  const ws = await connectEvents(d, { origin: 'null' });
  await ws.next((m) => m.type === 'hello');
  await ws.close();
});

test('a request that does not arrive in time is a 408 request_timeout, not a 400', async (t) => {
  const d = await startTestDaemon(t, { requestTimeoutMs: 500 });
  const text = await rawExchange(d.port, `GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n`, { keepOpen: true });
  assert.match(text, /^HTTP\/1\.1 408 /, text);
  assert.equal(ErrorBody.parse(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).error.code, 'request_timeout');
});

/** Sends `text` on a fresh connection and returns everything the daemon answers until it closes. */
function rawExchange(port: number, text: string, { keepOpen = false } = {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => (keepOpen ? socket.write(text) : socket.end(text)));
    let answer = '';
    socket.on('data', (c) => (answer += c.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}
