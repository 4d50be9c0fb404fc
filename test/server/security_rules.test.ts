// companion/server/security.ts as pure functions: the rules the HTTP tests exercise, plus the
// exposed mode (non-loopback bind), which the tests may not bind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackAddress } from '../../companion/server/daemon.ts';
import { bearerToken, checkHost, checkOrigin, originAccepted } from '../../companion/server/security.ts';

const loopback = { port: 43117, acceptIpLiterals: false };
const exposed = { port: 43117, acceptIpLiterals: true };

test('Host: loopback names with the right port only', () => {
  for (const ok of ['127.0.0.1:43117', 'localhost:43117', 'LocalHost:43117', '[::1]:43117']) assert.equal(checkHost(ok, loopback), undefined, ok);
  const refused = [undefined, '', 'evil.com', 'localhost.evil.com:43117', 'localhost:43118', 'localhost', '[::1]', '127.0.0.1:043117x', '192.168.0.2:43117', '[::ffff:7f00:1]:43117', 'localhost:43117 ', 'a b:43117'];
  for (const bad of refused) assert.equal(checkHost(bad, loopback)?.status, 403, String(bad));
});

test('Host when exposed: IP literals too, never DNS names', () => {
  assert.equal(checkHost('192.168.0.2:43117', exposed), undefined);
  assert.equal(checkHost('[fe80::1]:43117', exposed), undefined);
  assert.equal(checkHost('my-pc.local:43117', exposed)?.status, 403);
  assert.equal(checkHost('evil.com:43117', exposed)?.status, 403);
  assert.equal(checkHost('192.168.0.2:80', exposed)?.status, 403);
});

test('Origin: web schemes and null refused, plugin-runtime schemes and allowed ones accepted', () => {
  const none = { allowedOrigins: new Set<string>() };
  for (const web of ['null', 'https://a.b', 'http://127.0.0.1:43117', 'file://', 'chrome-extension://x', 'moz-extension://y', 'HTTPS://A.B', '', 'garbage']) {
    assert.equal(originAccepted(web, none), false, web);
  }
  for (const app of ['uxp://com.tokenflow.premiere', 'plugin://x', 'app://panel']) assert.equal(originAccepted(app, none), true, app);
  const allowNull = { allowedOrigins: new Set(['null', 'https://studio.example']) };
  assert.equal(originAccepted('null', allowNull), true);
  assert.equal(originAccepted('https://studio.example', allowNull), true);
  assert.equal(checkOrigin(undefined, undefined, none), undefined);
  assert.equal(checkOrigin(undefined, 'cross-site', none)?.status, 403);
  assert.equal(checkOrigin('https://studio.example', 'cross-site', allowNull), undefined);
  assert.equal(checkOrigin('uxp://x', 'cross-site', none)?.status, 403);
});

test('bearer header parsing', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer   abc'), 'abc');
  assert.equal(bearerToken('Bearer abc def'), undefined);
  assert.equal(bearerToken('Basic abc'), undefined);
  assert.equal(bearerToken('Bearer'), undefined);
  assert.equal(bearerToken(undefined), undefined);
});

test('loopback addresses', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(a), true, a);
  for (const a of ['0.0.0.0', '::', '192.168.1.2', 'example.com', '']) assert.equal(isLoopbackAddress(a), false, a);
});
