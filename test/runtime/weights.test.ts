import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../../companion/runtime/safetensors.ts';
import { WeightStore } from '../../companion/runtime/weights.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-w-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function makeFile(name: string, dtype: 'F32' | 'F16' = 'F32'): string {
  const file = join(dir, name);
  const data = (n: number) => (dtype === 'F32' ? new Float32Array(n).fill(0.5) : new Uint16Array(n).fill(0x3800));
  writeSafetensors(file, {
    'down_blocks.0.resnets.1.conv1.weight': { dtype, shape: [4, 4, 3, 3], data: data(144) },
    'down_blocks.0.resnets.1.conv1.bias': { dtype, shape: [4], data: data(4) },
    'conv_in.weight': { dtype, shape: [4, 2, 3, 3], data: data(72) },
  });
  return file;
}

test('scoped access reads like the model and checks shapes with full names', () => {
  const store = WeightStore.open('unet', [makeFile('a.safetensors')]);
  const conv1 = store.root().pp('down_blocks').pp(0).pp('resnets').pp(1).pp('conv1');
  assert.equal(conv1.path, 'down_blocks.0.resnets.1.conv1');
  const ref = conv1.get('weight', [4, 4, 3, 3]);
  assert.equal(ref.name, 'down_blocks.0.resnets.1.conv1.weight');
  assert.equal(ref.length, 144 * 4);
  assert.throws(() => conv1.get('bias', [8]), /unet: weight "down_blocks\.0\.resnets\.1\.conv1\.bias" has shape \[4\], expected \[8\]/);
  assert.throws(() => conv1.get('gamma'), /unet: missing weight "down_blocks\.0\.resnets\.1\.conv1\.gamma"/);
});

test('reports weights left unused by a build', () => {
  const store = WeightStore.open('unet', [makeFile('b.safetensors')]);
  const w = store.root();
  w.pp('conv_in').get('weight');
  assert.throws(() => store.assertAllUsed(), /2 weight\(s\) in the checkpoint were not used by the graph.*conv1\.bias/);
  w.pp('down_blocks.0.resnets.1.conv1').get('weight');
  w.pp('down_blocks.0.resnets.1.conv1').get('bias');
  store.assertAllUsed();
});

test('fp16 weights are converted once to an fp32 cache file and reused', () => {
  const cache = join(dir, 'cache');
  const src = makeFile('h.safetensors', 'F16');
  const first = WeightStore.open('vae', [src], { conversionCacheDir: cache });
  const ref = first.root().get('conv_in.weight');
  assert.equal(ref.dtype, 'F32');
  assert.equal(first.read('conv_in.weight')[0], 0.5);
  assert.equal(readdirSync(cache).length, 1);
  const second = WeightStore.open('vae', [src], { conversionCacheDir: cache });
  assert.equal(second.root().get('conv_in.weight').file, ref.file);
  assert.equal(readdirSync(cache).length, 1);
});

test('resolves symlinks as the Hugging Face cache uses them', () => {
  const blobs = join(dir, 'blobs');
  const snap = join(dir, 'snapshots', 'abc', 'unet');
  mkdirSync(blobs, { recursive: true });
  mkdirSync(snap, { recursive: true });
  const blob = makeFile('blob.safetensors');
  symlinkSync(blob, join(snap, 'diffusion_pytorch_model.safetensors'));
  const store = WeightStore.open('unet', [join(snap, 'diffusion_pytorch_model.safetensors')]);
  assert.equal(store.root().get('conv_in.weight').file, blob);
});
