import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  componentWeightFiles, isShardOf, weightCandidates, weightMapShards, WEIGHT_COMPONENTS,
} from '../../companion/models/diffusers_layout.ts';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-layout-'));
let folders = 0;
after(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** A model folder holding the given files (empty: the lookup only looks at names). */
function folderWith(files: Record<string, string>): string {
  const dir = path.join(tmpRoot, `m${++folders}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

test('each component has its diffusers weight name; candidates run single file, weight map, preferred precision first', () => {
  assert.deepEqual(WEIGHT_COMPONENTS, ['text_encoder', 'unet', 'vae']);
  assert.deepEqual(weightCandidates('text_encoder', 'fp16'), [
    { path: 'text_encoder/model.fp16.safetensors', precision: 'fp16' },
    { path: 'text_encoder/model.safetensors.index.fp16.json', precision: 'fp16' },
    { path: 'text_encoder/model.safetensors', precision: 'fp32' },
    { path: 'text_encoder/model.safetensors.index.json', precision: 'fp32' },
  ]);
  assert.deepEqual(weightCandidates('unet', 'fp32').map((c) => c.path), [
    'unet/diffusion_pytorch_model.safetensors',
    'unet/diffusion_pytorch_model.safetensors.index.json',
    'unet/diffusion_pytorch_model.fp16.safetensors',
    'unet/diffusion_pytorch_model.safetensors.index.fp16.json',
  ]);
});

test('a model folder: single files, and the shards its weight map names', () => {
  assert.deepEqual(componentWeightFiles('test/fixtures/tiny-sd15', 'text_encoder'), [path.join('test/fixtures/tiny-sd15', 'text_encoder', 'model.safetensors')]);
  assert.deepEqual(componentWeightFiles('test/fixtures/tiny-sdlayout', 'unet'), [
    path.join('test/fixtures/tiny-sdlayout', 'unet', 'diffusion_pytorch_model-00001-of-00002.safetensors'),
    path.join('test/fixtures/tiny-sdlayout', 'unet', 'diffusion_pytorch_model-00002-of-00002.safetensors'),
  ]);
});

test('the fp16 variant is chosen when preferred, and is the fallback of fp32', () => {
  const both = folderWith({ 'vae/diffusion_pytorch_model.safetensors': '', 'vae/diffusion_pytorch_model.fp16.safetensors': '' });
  assert.deepEqual(componentWeightFiles(both, 'vae'), [path.join(both, 'vae', 'diffusion_pytorch_model.safetensors')]);
  assert.deepEqual(componentWeightFiles(both, 'vae', 'fp16'), [path.join(both, 'vae', 'diffusion_pytorch_model.fp16.safetensors')]);
  const fp16Only = folderWith({ 'vae/diffusion_pytorch_model.fp16.safetensors': '' });
  assert.deepEqual(componentWeightFiles(fp16Only, 'vae'), [path.join(fp16Only, 'vae', 'diffusion_pytorch_model.fp16.safetensors')]);
});

test('missing or misnamed weights name the file expected for the component', () => {
  const dir = folderWith({ 'text_encoder/diffusion_pytorch_model.safetensors': '', 'text_encoder/pytorch_model.bin': '' });
  assert.throws(() => componentWeightFiles(dir, 'text_encoder'), {
    message: `${path.join(dir, 'text_encoder')}: no safetensors weights found (expected model.safetensors; .bin checkpoints are not supported, convert them to safetensors)`,
  });
});

test('a weight map: its shards, sorted and deduplicated; a broken one is named', () => {
  const map = { weight_map: { b: 'x-00002-of-00002.safetensors', a: 'x-00001-of-00002.safetensors', c: 'x-00001-of-00002.safetensors' } };
  assert.deepEqual(weightMapShards('unet/x.safetensors.index.json', map), ['x-00001-of-00002.safetensors', 'x-00002-of-00002.safetensors']);
  assert.throws(() => weightMapShards('unet/x.safetensors.index.json', { metadata: {} }), { message: 'unet/x.safetensors.index.json: no "weight_map" object' });
  assert.throws(() => weightMapShards('m.json', { weight_map: { a: '../vae/other.safetensors' } }),
    { message: 'm.json: weight_map names "../vae/other.safetensors", not a safetensors file in the same folder' });
  const dir = folderWith({ 'unet/diffusion_pytorch_model.safetensors.index.json': '{"weight_map": ' });
  assert.throws(() => componentWeightFiles(dir, 'unet'), /diffusion_pytorch_model\.safetensors\.index\.json: not valid JSON/);
});

test('shards are recognised by the weight map naming, fp16 variant included', () => {
  const map = 'unet/diffusion_pytorch_model.safetensors.index.json';
  assert.equal(isShardOf(map, 'unet/diffusion_pytorch_model-00001-of-00002.safetensors'), true);
  assert.equal(isShardOf(map, 'unet/diffusion_pytorch_model.safetensors'), false);
  assert.equal(isShardOf(map, 'vae/diffusion_pytorch_model-00001-of-00002.safetensors'), false);
  assert.equal(isShardOf(map, 'unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors'), false);
  // The fp16 variant as diffusers saves it: variant before the last extension of the map's name.
  const fp16 = 'unet/diffusion_pytorch_model.safetensors.index.fp16.json';
  assert.equal(isShardOf(fp16, 'unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors'), true);
  assert.equal(isShardOf(fp16, 'unet/diffusion_pytorch_model-00001-of-00002.safetensors'), false);
});
