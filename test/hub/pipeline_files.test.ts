import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Sibling } from '../../companion/hub/hub_client.ts';
import { planPipelineFiles } from '../../companion/hub/pipeline_files.ts';
import { componentWeightFiles, WEIGHT_COMPONENTS } from '../../companion/models/diffusers_layout.ts';

const SHARDED = 'test/fixtures/tiny-sdlayout';

/** A hub listing of a model folder's files, plus files a real repo carries that a pull leaves alone. */
function listing(dir: string, extra: string[] = []): Sibling[] {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => !rel.startsWith('golden') && statSync(path.join(dir, rel)).isFile())
    .map((rel) => rel.split(path.sep).join('/'));
  return [...files, ...extra].map((rfilename) => ({ rfilename }));
}

test('a pull plans the weight files a model folder is loaded from: single files and weight maps', () => {
  const plan = planPipelineFiles(listing(SHARDED, ['unet/diffusion_pytorch_model.bin', 'safety_checker/model.safetensors']), 'fp32');
  assert.deepEqual(plan.missing, []);
  assert.deepEqual(plan.notes, []);
  const planned = plan.files.map((f) => f.rfilename);
  for (const component of WEIGHT_COMPONENTS) {
    const loaded = componentWeightFiles(SHARDED, component).map((f) => path.relative(SHARDED, f).split(path.sep).join('/'));
    const weights = planned.filter((p) => p.startsWith(`${component}/`) && p.includes('.safetensors'));
    // The shards of a weight map come from the map itself at pull time (pull.ts).
    assert.deepEqual(weights, loaded.length > 1 ? [`${component}/diffusion_pytorch_model.safetensors.index.json`] : loaded, component);
  }
  assert.ok(!planned.some((p) => p.endsWith('.bin') || p.startsWith('safety_checker/')), planned.join(', '));
});

test('the preferred precision falls back with a note; weights missing name the expected file', () => {
  const { files, notes } = planPipelineFiles(listing('test/fixtures/tiny-sd15'), 'fp16');
  assert.ok(files.some((f) => f.rfilename === 'text_encoder/model.safetensors'));
  assert.deepEqual(notes, [
    'text_encoder: the repo has no fp16 weights; using text_encoder/model.safetensors (fp32)',
    'unet: the repo has no fp16 weights; using unet/diffusion_pytorch_model.safetensors (fp32)',
    'vae: the repo has no fp16 weights; using vae/diffusion_pytorch_model.safetensors (fp32)',
  ]);
  const binOnly = listing('test/fixtures/tiny-sd15').filter((s) => !s.rfilename.startsWith('vae/diffusion'));
  binOnly.push({ rfilename: 'vae/diffusion_pytorch_model.bin' });
  assert.deepEqual(planPipelineFiles(binOnly, 'fp32').missing, [
    'vae/diffusion_pytorch_model.safetensors (the repo has only PyTorch .bin/.ckpt weights, which are not supported)',
  ]);
});
