import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flopsByProvider, gpuTimeShare, nodeFlops } from '../../bench/providers.ts';

test('FLOPs of profiled nodes come from their shapes', () => {
  // [2, 77, 32] x [32, 64]: 2 * (2*77*64) * 32
  assert.equal(nodeFlops('MatMul', [[2, 77, 32], [32, 64]], [[2, 77, 64]]), 2 * 2 * 77 * 64 * 32);
  assert.equal(nodeFlops('FusedMatMul', [[2, 77, 32], [64, 32]], [[2, 77, 64]]), 2 * 2 * 77 * 64 * 32); // transB
  // 3x3 conv 4 -> 32 channels on 2 x 32x32
  assert.equal(nodeFlops('Conv', [[2, 4, 32, 32], [32, 4, 3, 3], [32]], [[2, 32, 32, 32]]), 2 * (2 * 32 * 32 * 32) * 4 * 9);
  // attention: q k^T and the weighted sum of v, 4 * B * Sq * Skv * D
  assert.equal(nodeFlops('MultiHeadAttention', [[2, 256, 64], [2, 77, 64], [2, 77, 64]], [[2, 256, 64]]), 4 * 2 * 256 * 77 * 64);
  assert.equal(nodeFlops('MultiHeadAttention', [[2, 256, 64], [2, 8, 77, 8]], [[2, 256, 64]]), 4 * 2 * 256 * 77 * 64);
  assert.equal(nodeFlops('Add', [[2, 4], [2, 4]], [[2, 4]]), 0);
});

test('FLOPs add up per execution provider over the node events of a profile', () => {
  const node = (op: string, provider: string, inputs: number[][], outputs: number[][]) => ({
    cat: 'Node', name: `${op}_kernel_time`,
    args: { op_name: op, provider, input_type_shape: inputs.map((s) => ({ float: s })), output_type_shape: outputs.map((s) => ({ float: s })) },
  });
  const by = flopsByProvider([
    node('MatMul', 'CPUExecutionProvider', [[4, 8], [8, 2]], [[4, 2]]),
    node('MatMul', 'WebGpuExecutionProvider', [[4, 8], [8, 2]], [[4, 2]]),
    node('MatMul', 'WebGpuExecutionProvider', [[1, 8], [8, 2]], [[1, 2]]),
    { cat: 'Session', name: 'model_run' },
    { cat: 'Node', name: 'MatMul_fence_before', args: { op_name: 'MatMul', provider: 'CPUExecutionProvider' } },
  ]);
  assert.deepEqual(by, { CPUExecutionProvider: 128, WebGpuExecutionProvider: 160 });
});

test('GPU time per shader program adds up the WebGPU timestamp events; programs under 1 % are "other"', () => {
  const gpu = (node: string, program: string, dur: number) => ({ cat: 'Api', name: `${node}&${program}`, dur });
  const share = gpuTimeShare([
    gpu('attn1/MultiHeadAttention&MultiHeadAttention', 'FlashAttention', 500),
    gpu('attn2/MultiHeadAttention&MultiHeadAttention', 'FlashAttention', 200),
    gpu('conv1/Conv_token_1&Conv', 'Conv2dMM', 292),
    gpu('norm/Cast&Cast', 'Cast', 5),
    gpu('proj/Cast&Cast', 'Cast', 3),
    { cat: 'Node', name: 'conv1/Conv_kernel_time', dur: 10_000 },
    { cat: 'Session', name: 'model_run', dur: 20_000 },
  ]);
  assert.deepEqual(share, { FlashAttention: 0.7, Conv2dMM: 0.292, other: 0.008 });
  assert.deepEqual(gpuTimeShare([{ cat: 'Node', name: 'MatMul_kernel_time', dur: 5 }]), {});
});
