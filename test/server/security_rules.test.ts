// companion/server/security.ts as pure functions: the rules the HTTP tests exercise, plus the
// exposed mode (non-loopback bind), which the tests may not bind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackAddress } from '../../companion/server/daemon.ts';
import { bearerToken, checkHost, checkOrigin, checkSingleHeaders, judgeOrigin } from '../../companion/server/security.ts';

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

// Every Origin a browser, extension, isolated app, Electron app or editor webview can send,
// and what the rule answers. `cors`: echoed in Access-Control-Allow-Origin.
const ORIGIN_TABLE: Array<[origin: string | undefined, verdict: 'accepted' | 'cors' | 'refused', why: string]> = [
  [undefined, 'accepted', 'no Origin: curl, the CLI, a panel that sends none'],
  ['uxp://com.tokenflow.premiere', 'accepted', 'the UXP runtime'],
  ['UXP://com.tokenflow.premiere', 'accepted', 'schemes are case-insensitive'],
  ['plugin://com.tokenflow.premiere', 'accepted', "UXP's plugin: scheme"],
  ['https://studio.example', 'cors', 'listed with --allow-origin'],
  ['null', 'cors', 'listed with --allow-origin'],
  ['https://evil.com', 'refused', 'a web page'],
  ['http://evil.com', 'refused', 'a web page'],
  ['HTTPS://EVIL.COM', 'refused', 'a web page, upper case'],
  ['http://127.0.0.1:43117', 'refused', 'a page served from the daemon port itself'],
  ['http://localhost:3000', 'refused', 'a local dev server'],
  ['https://studio.example.evil.com', 'refused', 'not the allowed origin, only a prefix of it'],
  ['https://studio.example/', 'refused', 'allowed origins match exactly'],
  ['chrome-extension://abcdefghijklmnop', 'refused', 'a browser extension'],
  ['moz-extension://1234', 'refused', 'a browser extension'],
  ['safari-web-extension://1234', 'refused', 'a browser extension'],
  ['ms-browser-extension://1234', 'refused', 'a browser extension'],
  ['isolated-app://x', 'refused', 'an isolated web app'],
  ['chrome-untrusted://x', 'refused', 'a Chrome untrusted WebUI'],
  ['chrome://settings', 'refused', 'browser UI'],
  ['app://x', 'refused', 'an Electron app protocol'],
  ['vscode-webview://x', 'refused', 'an editor webview'],
  ['vscode-file://vscode-app', 'refused', 'an editor window'],
  ['file://', 'refused', 'a local HTML file'],
  ['blob:https://evil.com/1', 'refused', 'blob: content'],
  ['data:text/html,x', 'refused', 'data: content'],
  ['about:blank', 'refused', 'about: content'],
  ['x-evil://foo', 'refused', 'a scheme nobody listed'],
  ['uxp:', 'refused', 'not an origin (no host)'],
  ['uxp://a b', 'refused', 'not an origin (space)'],
  ['uxp://x, https://evil.com', 'refused', 'two Origin headers joined by Node'],
  ['', 'refused', 'empty'],
  ['garbage', 'refused', 'not an origin'],
];

test('Origin: one rule, table-driven', () => {
  const policy = { allowedOrigins: new Set(['null', 'https://studio.example']) };
  for (const [origin, expected, why] of ORIGIN_TABLE) {
    const verdict = judgeOrigin(origin, policy);
    const got = !verdict.accepted ? 'refused' : verdict.cors ? 'cors' : 'accepted';
    assert.equal(got, expected, `${String(origin)} (${why})`);
    assert.equal(checkOrigin(origin, undefined, policy)?.status, expected === 'refused' ? 403 : undefined, String(origin));
  }
  // Without --allow-origin, `null` and web origins are refused like the rest.
  const none = { allowedOrigins: new Set<string>() };
  assert.equal(judgeOrigin('null', none).accepted, false);
  assert.equal(judgeOrigin('https://studio.example', none).accepted, false);
  const refused = judgeOrigin('x-evil://foo', none);
  assert.ok(!refused.accepted && refused.why.includes('x-evil://foo'));
});

test('Sec-Fetch-Site: a cross-site browser request passes only with an --allow-origin Origin', () => {
  const policy = { allowedOrigins: new Set(['https://studio.example']) };
  assert.equal(checkOrigin(undefined, 'none', policy), undefined);
  assert.equal(checkOrigin(undefined, 'cross-site', policy)?.status, 403);
  assert.equal(checkOrigin(undefined, 'same-site', policy)?.status, 403);
  assert.equal(checkOrigin('https://studio.example', 'cross-site', policy), undefined);
  assert.equal(checkOrigin('uxp://x', 'cross-site', policy)?.status, 403);
});

test('two Host (or Origin) headers are a 400; one of each passes', () => {
  assert.equal(checkSingleHeaders(['Host', 'a', 'Origin', 'uxp://x', 'Accept', '*/*']), undefined);
  assert.equal(checkSingleHeaders(['Host', '127.0.0.1:1', 'host', 'evil.com'])?.status, 400);
  assert.match(checkSingleHeaders(['Host', '127.0.0.1:1', 'HOST', 'evil.com'])!.message, /2 Host headers/);
  assert.equal(checkSingleHeaders(['Origin', 'uxp://x', 'origin', 'https://evil.com'])?.status, 400);
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
