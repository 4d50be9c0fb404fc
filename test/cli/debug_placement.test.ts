import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { heavyCpuOps, type PlacementReport } from '../../companion/pipeline/placement.ts';
import { tempDir, tokenflow } from '../helpers/cli.ts';
import { prepareWebGpu } from '../helpers/webgpu.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const COMPONENTS = ['text_encoder', 'vae_encoder', 'vae_decoder', 'unet', 'tokenflow_unet'];

prepareWebGpu();

// Four independent commands, each building its graphs in JavaScript on one thread: two at a
// time keep both cores busy (the suite runs one test file at a time).
describe('debug placement on webgpu', { concurrency: 2 }, () => {
  for (const model of ['tiny-sd15', 'tiny-sdlayout']) {
    for (const precision of ['float16', 'float32']) {
      test(`debug placement: ${model} on webgpu in ${precision} leaves no heavy op on the CPU`, async (t) => {
        const r = await tokenflow(['debug', 'placement', '--model', fixture(model), '--provider', 'webgpu', '--precision', precision, '--json'], { TOKENFLOW_HOME: tempDir(t, 'tokenflow-placement-') });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const report = JSON.parse(r.stdout) as PlacementReport;
        assert.deepEqual(report.components.map((c) => c.name), COMPONENTS);
        for (const c of report.components) {
          assert.equal(c.provider, 'webgpu');
          assert.equal(c.precision, precision);
          assert.ok((c.by_provider.WebGpuExecutionProvider ?? 0) > 0, `${c.name}: ${JSON.stringify(c.by_provider)}`);
          // Every CPU node is listed by op type.
          const cpuListed = Object.values(c.cpu_ops).reduce((a, b) => a + b, 0);
          assert.equal(cpuListed, c.by_provider.CPUExecutionProvider ?? 0, c.name);
        }
        // All components in one assertion, so a failure names every heavy op left on the CPU.
        const heavy = Object.fromEntries(report.components.map((c) => [c.name, heavyCpuOps(c)]));
        assert.deepEqual(heavy, Object.fromEntries(COMPONENTS.map((n) => [n, {}])), 'heavy ops on the CPU');
      });
    }
  }
});

test('debug placement names a bad provider or precision', async () => {
  const [bad, two, precision] = await Promise.all([
    tokenflow(['debug', 'placement', '--model', fixture('tiny-sd15'), '--provider', 'metal']),
    tokenflow(['debug', 'placement', '--model', fixture('tiny-sd15'), '--provider', 'webgpu,cpu']),
    tokenflow(['debug', 'placement', '--model', fixture('tiny-sd15'), '--precision', 'bfloat16']),
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--provider: unknown execution provider "metal" \(one of cuda, dml, coreml, webgpu, cpu\)/);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /--provider takes one execution provider/);
  assert.equal(precision.code, 2);
  assert.match(precision.stderr, /--precision must be float32 or float16, got "bfloat16"/);
});
