// Naming the GPU for the checklist: the command per provider and OS, and reading its output.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpuNameCommand, parseGpuName } from '../../companion/runtime/gpu_name.ts';

test('CUDA asks nvidia-smi and takes device 0', () => {
  assert.deepEqual(gpuNameCommand('cuda', 'linux'), { file: 'nvidia-smi', args: ['--query-gpu=name', '--format=csv,noheader'] });
  assert.equal(parseGpuName('cuda', 'NVIDIA H200\nNVIDIA H200\n'), 'NVIDIA H200');
});

test('DirectML asks Windows for its video controllers; Core ML names the Apple chip', () => {
  assert.equal(gpuNameCommand('dml', 'win32')?.file, 'powershell.exe');
  assert.equal(parseGpuName('dml', '\r\nNVIDIA GeForce RTX 4090\r\nIntel(R) UHD Graphics 770\r\n'), 'NVIDIA GeForce RTX 4090');
  assert.equal(parseGpuName('coreml', 'Apple M3 Max\n'), 'Apple M3 Max GPU');
});

test('the CPU has no GPU to name; empty output is unknown', () => {
  assert.equal(gpuNameCommand('cpu', 'linux'), undefined);
  assert.equal(parseGpuName('cuda', '\n'), null);
});
