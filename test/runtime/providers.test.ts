import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COREML_FLAGS, defaultProviders, graphVariant, providerDType } from '../../companion/runtime/providers.ts';
import { Graph } from '../../companion/runtime/graph.ts';
import { createSession, executionProvider, ort } from '../../companion/runtime/session.ts';

test('default provider order per platform, CPU last; Linux WebGPU only with a GPU device', () => {
  const facts = (cuda: boolean, gpu: boolean) => ({ cudaInstalled: () => cuda, gpuDevicePresent: () => gpu });
  const none = facts(false, false);
  assert.deepEqual(defaultProviders('win32', 'x64', none), ['dml', 'webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('win32', 'arm64', none), ['dml', 'webgpu', 'cpu']);
  // CoreML only when asked for (TOKENFLOW_PROVIDERS / --provider).
  assert.deepEqual(defaultProviders('darwin', 'arm64', none), ['webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('linux', 'x64', facts(true, true)), ['cuda', 'webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('linux', 'x64', facts(false, true)), ['webgpu', 'cpu']);
  // No /dev/dri render node or NVIDIA device: Vulkan could only be Mesa's software driver.
  assert.deepEqual(defaultProviders('linux', 'x64', facts(false, false)), ['cpu']);
  assert.deepEqual(defaultProviders('linux', 'x64', facts(true, false)), ['cuda', 'cpu']);
  assert.deepEqual(defaultProviders('linux', 'arm64', facts(true, true)), ['cpu']);
});

test('CoreML sessions carry the MLProgram (0x010) and subgraph (0x002) flags; others their defaults', () => {
  assert.equal(COREML_FLAGS, 0x012);
  assert.deepEqual(executionProvider('coreml'), { name: 'coreml', coreMlFlags: 0x012 });
  assert.equal(executionProvider('webgpu'), 'webgpu');
  assert.equal(executionProvider('cpu'), 'cpu');
});

test('a CoreML session is created with those flags (session options seen by a stand-in factory)', async () => {
  const g = new Graph('coreml-flags');
  g.output(g.input('x', 'float32', [1]), 'y');
  const seen: unknown[] = [];
  const loaded = await createSession(g, {
    providers: ['coreml'],
    create: (bytes, options) => {
      seen.push(options.executionProviders);
      return ort.InferenceSession.create(bytes, { ...options, executionProviders: ['cpu'] });
    },
  });
  await loaded.session.release();
  assert.deepEqual(seen, [[{ name: 'coreml', coreMlFlags: 0x012 }]]);
});

test('graph forms per provider: FusedMatMul where it exists, MultiHeadAttention except on CoreML', () => {
  const forms = (p: Parameters<typeof graphVariant>[0]) => {
    const v = graphVariant(p);
    return [v.linear, v.attention, v.float32Attention, v.halfAttention];
  };
  assert.deepEqual(forms('cpu'), ['FusedMatMul', 'MultiHeadAttention', 'MultiHeadAttention', false]);
  assert.deepEqual(forms('cuda'), ['FusedMatMul', 'MultiHeadAttention', 'MultiHeadAttention', true]);
  assert.deepEqual(forms('dml'), ['FusedMatMul', 'MultiHeadAttention', 'MultiHeadAttention', true]);
  assert.deepEqual(forms('webgpu'), ['MatMul', 'MultiHeadAttention', 'MatMulSoftmax', true]);
  assert.deepEqual(forms('coreml'), ['MatMul', 'MatMulSoftmax', 'MatMulSoftmax', true]);
  assert.equal(providerDType('cpu'), 'float32');
  assert.equal(providerDType('webgpu'), 'float16');
});
