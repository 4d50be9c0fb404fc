// companion/server/token.ts: creation races, file checks, constant-time comparison.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadOrCreateToken, readToken, rotateToken, tokenPath, tokensEqual } from '../../companion/server/token.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-token-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('concurrent first starts all end up with one and the same token', async (t) => {
  const configDir = path.join(tempDir(t), 'config');
  const tokens = await Promise.all(Array.from({ length: 20 }, () => loadOrCreateToken(configDir)));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(fs.readFileSync(tokenPath(configDir), 'utf8'), `${tokens[0]}\n`);
  assert.deepEqual(fs.readdirSync(configDir), ['token'], 'no temp files left behind');
});

test('tokens are 32 random bytes: distinct across installs', async (t) => {
  const root = tempDir(t);
  const a = await loadOrCreateToken(path.join(root, 'a'));
  const b = await loadOrCreateToken(path.join(root, 'b'));
  assert.notEqual(a, b);
  assert.equal(Buffer.from(a, 'base64url').length, 32);
});

test('a damaged token file is reported by path, never silently replaced', async (t) => {
  const configDir = tempDir(t);
  fs.writeFileSync(tokenPath(configDir), 'short\n');
  await assert.rejects(loadOrCreateToken(configDir), new RegExp(`token file ${tokenPath(configDir).replace(/[\\\\/.]/g, '.')} does not hold a valid token`));
  assert.equal(fs.readFileSync(tokenPath(configDir), 'utf8'), 'short\n');
});

test('readToken does not create; rotateToken replaces', async (t) => {
  const configDir = tempDir(t);
  assert.equal(await readToken(configDir), undefined);
  assert.ok(!fs.existsSync(tokenPath(configDir)));
  const first = await loadOrCreateToken(configDir);
  const second = await rotateToken(configDir);
  assert.notEqual(first, second);
  assert.equal(await readToken(configDir), second);
  if (process.platform !== 'win32') assert.equal(fs.statSync(tokenPath(configDir)).mode & 0o777, 0o600);
});

test('tokensEqual: equal only for the same string, whatever the lengths', () => {
  const token = 'A'.repeat(43);
  assert.equal(tokensEqual(token, token), true);
  assert.equal(tokensEqual(`${token}B`, token), false);
  assert.equal(tokensEqual('', token), false);
  assert.equal(tokensEqual('B' + token.slice(1), token), false);
  assert.equal(tokensEqual('é'.repeat(43), token), false);
});
