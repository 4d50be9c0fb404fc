import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parityRun, providerPlans } from '../../bench/gpu.ts';
import { tempDir } from '../helpers/cli.ts';
import { prepareWebGpu } from '../helpers/webgpu.ts';

const GPU_BENCH = fileURLToPath(new URL('../../bench/gpu.ts', import.meta.url));
const LVP = '/usr/share/vulkan/icd.d/lvp_icd.json';
const NVIDIA = '/etc/vulkan/icd.d/nvidia_icd.json';

test('the GPU check says why a provider is not run', () => {
  const noLoader = providerPlans({ loader: null, drivers: [] }, false, false, 'linux');
  assert.match(noLoader[0]!.skipped!, /libvulkan\.so\.1 \(the Vulkan loader\) not found/);
  assert.match(noLoader[1]!.skipped!, /CUDA provider library is not installed/);
  // At full size the software driver would take hours; the dry run uses it.
  const loader = '/usr/lib/x86_64-linux-gnu/libvulkan.so.1';
  assert.match(providerPlans({ loader, drivers: [LVP] }, false, true, 'linux')[0]!.skipped!, /only Mesa's software Vulkan driver/);
  assert.deepEqual(providerPlans({ loader, drivers: [LVP] }, true, true, 'linux'), [{ provider: 'webgpu' }, { provider: 'cuda' }]);
  // With NVIDIA's driver installed, WebGPU is pinned to it.
  assert.deepEqual(providerPlans({ loader, drivers: [LVP, NVIDIA] }, false, false, 'linux')[0], { provider: 'webgpu', env: { VK_ICD_FILENAMES: NVIDIA } });
  assert.deepEqual(providerPlans({ loader: null, drivers: [] }, false, false, 'win32')[0], { provider: 'webgpu' });
});

test('the GPU check runs end to end at tiny sizes (--dry-run) on WebGPU', async (t) => {
  prepareWebGpu();
  const env = { ...process.env, TOKENFLOW_HOME: tempDir(t, 'tokenflow-gpu-check-') };
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', GPU_BENCH, '--dry-run'], { env, timeout: 600_000, maxBuffer: 8 << 20 }, (err, out, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr.slice(-2000)}`));
      else resolve(out);
    });
  });
  const report = JSON.parse(stdout);
  assert.equal(report.size, 'dry run (toy widths)');
  const webgpu = report.providers.webgpu;
  assert.equal(webgpu.error, undefined);
  for (const n of ['1', '2']) {
    assert.ok(webgpu.unet.batches[n].msPerCall > 0, n);
    assert.ok(webgpu.unet.batches[n].tflops > 0, n);
  }
  assert.equal(webgpu.vaeDecode.side, 64);
  assert.ok(webgpu.vaeDecode.msPerFrame > 0);
  assert.equal(webgpu.tokenflowStep.stepMs.length, 1);
  assert.deepEqual(Object.keys(webgpu.placement), ['text_encoder', 'vae_encoder', 'vae_decoder', 'unet', 'tokenflow_unet']);
  for (const c of Object.values(webgpu.placement) as { byProvider: Record<string, number> }[]) assert.ok(c.byProvider.WebGpuExecutionProvider! > 0);
  assert.ok(report.providers.cuda.skipped || report.providers.cuda.unet, JSON.stringify(report.providers.cuda));
  // The 50-step edit against the golden is for real GPUs only.
  assert.match(webgpu.freeRunningParity.skipped, /software device: ~1\.5 h/);
});

test('the GPU check reports a 50-step edit that runs out of its time share as timed out', (t) => {
  prepareWebGpu();
  const dir = tempDir(t, 'tokenflow-gpu-parity-');
  const env = { ...process.env, TOKENFLOW_HOME: dir };
  // On lavapipe the edit takes ~1.5 h; 3 s is not enough on any device.
  const result = parityRun('webgpu', 'float16', env, `${dir}/run`, 3000) as { error?: string };
  assert.equal(result.error, 'timed out: stopped after 3 s (its share of the time budget)');
});
