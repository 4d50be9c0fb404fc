import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { markSection, parsePlacementLog } from '../../companion/runtime/placement_log.ts';

// ORT 1.30's verbose stderr, captured: a MatMul graph whose If branches hold a FusedMatMul
// (which WebGPU lacks) and a Relu, on WebGPU; the same graph on the CPU; and the tiny-sd15
// float16 VAE decoder on WebGPU (its first lines and its placement, capability and warning lines).
const LOG = readFileSync(new URL('../fixtures/ort/placement-webgpu.txt', import.meta.url), 'utf8');

test('the placement log parser reads each section of a captured ORT log', () => {
  const sections = parsePlacementLog(LOG);
  assert.deepEqual([...sections.keys()], ['iftest', 'cpu-only', 'vae_decoder']);
  assert.deepEqual(sections.get('iftest'), {
    byProvider: { CPUExecutionProvider: 1, WebGpuExecutionProvider: 3 }, // If, its Relu branch and the MatMul
    cpuOps: { FusedMatMul: 1 }, // If-branch nodes are listed too
  });
  // One provider took every node: ORT gives the count only.
  assert.deepEqual(sections.get('cpu-only'), { byProvider: { CPUExecutionProvider: 4 }, cpuOps: {} });
  assert.deepEqual(sections.get('vae_decoder'), {
    byProvider: { CPUExecutionProvider: 24, WebGpuExecutionProvider: 202 },
    cpuOps: { FusedMatMul: 4, Gather: 15, Cast: 5 },
  });
});

test('node lines count only under the provider header they follow, and text before the first mark is ignored', () => {
  const line = (msg: string) => `2026-01-01 00:00:00.0 [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp] ${msg}`;
  const log = [
    line(' Node(s) placed on [CPUExecutionProvider]. Number of nodes: 1'), // before any mark
    line('  Conv (early)'),
    markSection('a').trimEnd(),
    line('Node placements'),
    line(' Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2'),
    line('  Gather (g)'),
    line('  Gather (g_1)'),
    line(' Node(s) placed on [CudaExecutionProvider]. Number of nodes: 1'),
    line('  Conv (c)'),
    '[I:onnxruntime:, cuda_execution_provider.cc:1 GetCapability] CUDA kernel not found in registries for Op type: Softmax node name: s',
  ].join('\n');
  assert.deepEqual(parsePlacementLog(log), new Map([['a', {
    byProvider: { CPUExecutionProvider: 2, CudaExecutionProvider: 1 },
    cpuOps: { Gather: 2 },
  }]]));
});
