import { test } from 'node:test';
import assert from 'node:assert/strict';
import { probeProvider } from '../../companion/runtime/provider_probe.ts';

test('the provider probe names the provider that loads and the ones skipped', async () => {
  const plain = await probeProvider(['cpu']);
  assert.equal(plain.provider, 'cpu');
  assert.equal(plain.line, 'running on cpu');
  const unavailable = process.platform === 'win32' ? 'coreml' : 'dml';
  const fallback = await probeProvider([unavailable, 'cpu']);
  assert.equal(fallback.provider, 'cpu');
  assert.match(fallback.line, new RegExp(`^running on cpu \\(skipped ${unavailable}: .+\\)$`));
});
