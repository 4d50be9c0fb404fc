import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../companion/runtime/safetensors.ts';
import { assertClose } from '../helpers/tensors.ts';
import { prepareWebGpu } from '../helpers/webgpu.ts';

const MODEL = 'test/fixtures/tiny-sd15';
const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-debug-run-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function tokenflow(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/tokenflow.mjs', 'debug', 'run', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr };
}

test('debug run unet writes `out` matching the golden case (extra input tensors ignored)', () => {
  // unet_taps.safetensors holds sample/timestep/encoder_hidden_states of case1 plus 23 taps.
  const out = join(tmp, 'unet-out.safetensors');
  const r = tokenflow('unet', '--model', MODEL, '--inputs', `${MODEL}/golden/unet_taps.safetensors`, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const written = SafetensorsFile.open(out);
  assert.deepEqual([...written.tensors.keys()], ['out']);
  assert.deepEqual(written.info('out').shape, [2, 4, 32, 32]);
  const golden = SafetensorsFile.open(`${MODEL}/golden/unet.safetensors`);
  assertClose(written.readFloat32('out'), golden.readFloat32('case1.out'), 3e-5, 'debug run unet out');
});

test('debug run text-encoder writes last_hidden_state', () => {
  const out = join(tmp, 'te-out.safetensors');
  const golden = `${MODEL}/golden/text_encoder.safetensors`;
  const r = tokenflow('text-encoder', '--model', MODEL, '--inputs', golden, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const want = SafetensorsFile.open(golden);
  assertClose(SafetensorsFile.open(out).readFloat32('last_hidden_state'), want.readFloat32('last_hidden_state'), 2e-5, 'last_hidden_state');
});

test('debug run: a missing input names it; an unknown component is a usage error', () => {
  const partial = join(tmp, 'partial.safetensors');
  writeSafetensors(partial, {
    sample: { dtype: 'F32', shape: [1, 4, 8, 8], data: new Float32Array(256) },
    encoder_hidden_states: { dtype: 'F32', shape: [1, 77, 32], data: new Float32Array(77 * 32) },
  });
  const missing = tokenflow('unet', '--model', MODEL, '--inputs', partial, '--out', join(tmp, 'x.safetensors'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no tensor "timestep" \(the unet needs sample, timestep, encoder_hidden_states\)/);
  const unknown = tokenflow('vae-something', '--model', MODEL, '--inputs', partial, '--out', join(tmp, 'y.safetensors'));
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown component "vae-something"/);
});

test('debug run --provider webgpu --precision float16: the text encoder on WebGPU, its float16 graph', () => {
  prepareWebGpu();
  const out = join(tmp, 'te-webgpu.safetensors');
  const golden = `${MODEL}/golden/text_encoder.safetensors`;
  const r = tokenflow('text-encoder', '--model', MODEL, '--inputs', golden, '--out', out, '--provider', 'webgpu', '--precision', 'float16', '--cache-dir', join(tmp, 'conversion'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^text-encoder: running on webgpu with the float16 graph$/m);
  // test/models/webgpu_parity.test.ts: 9.6e-3 measured.
  const want = SafetensorsFile.open(golden);
  assertClose(SafetensorsFile.open(out).readFloat32('last_hidden_state'), want.readFloat32('last_hidden_state'), 2.5e-2, 'last_hidden_state on webgpu');
});

test('debug run: a bad --provider or --precision is a usage error naming it', () => {
  const args = ['text-encoder', '--model', MODEL, '--inputs', `${MODEL}/golden/text_encoder.safetensors`, '--out', join(tmp, 'z.safetensors')];
  const provider = tokenflow(...args, '--provider', 'webgpu,vulkan');
  assert.equal(provider.code, 2);
  assert.match(provider.stderr, /--provider: unknown execution provider "vulkan" \(one of cuda, dml, coreml, webgpu, cpu\)/);
  const precision = tokenflow(...args, '--precision', 'half');
  assert.equal(precision.code, 2);
  assert.match(precision.stderr, /--precision must be float32 or float16, got "half"/);
});
