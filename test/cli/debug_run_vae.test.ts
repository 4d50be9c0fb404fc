import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';
import { assertClose } from '../helpers/tensors.ts';

const MODEL = 'test/fixtures/tiny-sd15';
const golden = SafetensorsFile.open(`${MODEL}/golden/vae.safetensors`);
const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-debug-run-vae-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function tokenflow(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/tokenflow.mjs', 'debug', 'run', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

/** Writes golden tensors under the names the component expects (plus one extra, ignored). */
function inputsFile(file: string, names: Record<string, string>): string {
  const tensors = Object.entries(names).map(([as, name]): [string, TensorToWrite] => [as, { dtype: 'F32', shape: golden.info(name).shape, data: golden.readFloat32(name) }]);
  tensors.push(['unrelated', { dtype: 'F32', shape: [1], data: new Float32Array([7]) }]);
  writeSafetensors(join(tmp, file), tensors);
  return join(tmp, file);
}

test('debug run vae-encode writes mean and logvar matching diffusers', () => {
  const out = join(tmp, 'enc-out.safetensors');
  const r = tokenflow('vae-encode', '--model', MODEL, '--inputs', inputsFile('enc-in.safetensors', { image: 'enc48x80.image' }), '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const written = SafetensorsFile.open(out);
  assert.deepEqual([...written.tensors.keys()].sort(), ['logvar', 'mean']);
  assert.deepEqual(written.info('mean').shape, [1, 4, 24, 40]);
  assertClose(written.readFloat32('mean'), golden.readFloat32('enc48x80.mean'), 2e-5, 'mean');
  assertClose(written.readFloat32('logvar'), golden.readFloat32('enc48x80.logvar'), 2e-5, 'logvar');
});

test('debug run vae-decode writes image matching diffusers; a missing input names it', () => {
  const out = join(tmp, 'dec-out.safetensors');
  const r = tokenflow('vae-decode', '--model', MODEL, '--inputs', inputsFile('dec-in.safetensors', { latents: 'dec32x32.latents' }), '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const written = SafetensorsFile.open(out);
  assert.deepEqual(written.info('image').shape, [2, 3, 64, 64]);
  assertClose(written.readFloat32('image'), golden.readFloat32('dec32x32.image'), 3e-5, 'image');

  const wrong = tokenflow('vae-decode', '--model', MODEL, '--inputs', inputsFile('wrong-in.safetensors', { sample: 'dec32x32.latents' }), '--out', out);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /no tensor "latents" \(the vae-decode needs latents\)/);
});
