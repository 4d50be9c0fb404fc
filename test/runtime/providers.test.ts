import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COREML_FLAGS, defaultProviders, graphVariant, providerDType } from '../../companion/runtime/providers.ts';
import { executionProvider } from '../../companion/runtime/session.ts';

test('default provider order per platform, CPU last', () => {
  const cuda = () => true;
  const noCuda = () => false;
  assert.deepEqual(defaultProviders('win32', 'x64', noCuda), ['dml', 'webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('win32', 'arm64', noCuda), ['dml', 'webgpu', 'cpu']);
  // CoreML only when asked for (TOKENFLOW_PROVIDERS / --provider).
  assert.deepEqual(defaultProviders('darwin', 'arm64', noCuda), ['webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('linux', 'x64', cuda), ['cuda', 'webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('linux', 'x64', noCuda), ['webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('linux', 'arm64', cuda), ['cpu']);
});

test('CoreML sessions carry the MLProgram (0x010) and subgraph (0x002) flags; others their defaults', () => {
  assert.equal(COREML_FLAGS, 0x012);
  assert.deepEqual(executionProvider('coreml'), { name: 'coreml', coreMlFlags: 0x012 });
  assert.equal(executionProvider('webgpu'), 'webgpu');
  assert.equal(executionProvider('cpu'), 'cpu');
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
