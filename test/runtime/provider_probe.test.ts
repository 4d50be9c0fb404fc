import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

test('WebGPU without an adapter is skipped with one line naming why (Vulkan pointed at no driver)', { skip: process.platform !== 'linux' && 'Vulkan ICDs are chosen this way on Linux only' }, () => {
  const script = "import { probeProvider } from './companion/runtime/provider_probe.ts'; console.log(JSON.stringify(await probeProvider(['webgpu', 'cpu'])));";
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent-icd.json' },
  });
  assert.equal(r.status, 0, r.stderr);
  const probe = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { provider: string; line: string };
  assert.equal(probe.provider, 'cpu');
  assert.equal(probe.line, 'running on cpu (skipped webgpu: Failed to get a WebGPU adapter: No supported adapters)');
});
