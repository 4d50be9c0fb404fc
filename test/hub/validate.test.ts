import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { inspectModel, validateModel, ModelValidationError } from '../../companion/hub/validate.ts';

const FIXTURE = 'test/fixtures/tiny-sd15';
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-validate-'));
let copies = 0;

after(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** A copy of the tiny model (without its golden reference data) to break. */
function copyModel(): string {
  const dir = path.join(tmpRoot, `m${++copies}`);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) });
  return dir;
}

function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(file, JSON.stringify(json));
}

test('the tiny model is valid: fp32, size of its pipeline files', async () => {
  const report = await validateModel(FIXTURE);
  assert.equal(report.ok, true);
  assert.deepEqual(report.problems, []);
  assert.equal(report.pipelineClass, 'StableDiffusionPipeline');
  assert.equal(report.precision, 'fp32');
  const weights = ['unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors', 'text_encoder/model.safetensors']
    .reduce((a, f) => a + statSync(path.join(FIXTURE, f)).size, 0);
  assert.ok(report.sizeBytes > weights && report.sizeBytes < weights + 2_000_000, `size ${report.sizeBytes}`);
});

test('a missing unet/config.json is named', async () => {
  const dir = copyModel();
  rmSync(path.join(dir, 'unet', 'config.json'));
  const report = await inspectModel(dir);
  assert.deepEqual(report.problems, ['unet/config.json: missing']);
  await assert.rejects(validateModel(dir), (err: ModelValidationError) => {
    assert.ok(err instanceof ModelValidationError);
    assert.equal(err.message, `model folder ${dir} is not usable:\n  - unet/config.json: missing`);
    return true;
  });
});

test('a truncated safetensors file is reported as such', async () => {
  const dir = copyModel();
  const file = path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors');
  truncateSync(file, Math.floor(statSync(file).size / 2));
  const { problems } = await inspectModel(dir);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^unet\/diffusion_pytorch_model\.safetensors: tensor ".+" ends at byte \d+ but the file has \d+ bytes \(truncated download\?\)$/);
});

test('weight shapes that disagree with the configs name the weight and the config fields', async () => {
  const dir = copyModel();
  editJson(path.join(dir, 'text_encoder', 'config.json'), (c) => { c.vocab_size = 49409; });
  const { problems } = await inspectModel(dir);
  assert.deepEqual(problems, [
    'text_encoder (model.safetensors): weight "text_model.embeddings.token_embedding.weight" has shape [49408, 32], the config (vocab_size=49409, hidden_size=32) needs [49409, 32]',
  ]);

  const cross = copyModel();
  editJson(path.join(cross, 'unet', 'config.json'), (c) => { c.cross_attention_dim = 64; });
  const crossProblems = (await inspectModel(cross)).problems;
  assert.equal(crossProblems.length, 2);
  assert.match(crossProblems[0]!, /^unet\/config\.json: cross_attention_dim 64 does not match text_encoder\/config\.json hidden_size 32/);
  assert.match(crossProblems[1]!, /^unet \(diffusion_pytorch_model\.safetensors\): weight ".*attn2\.to_k\.weight" has shape \[64, 32\], the config \(cross_attention_dim=64\) needs \[\*, 64\]$/);

  const conv = copyModel();
  editJson(path.join(conv, 'unet', 'config.json'), (c) => { c.block_out_channels = [64, 64]; });
  assert.match((await inspectModel(conv)).problems.join('\n'),
    /unet \(diffusion_pytorch_model\.safetensors\): weight "conv_in\.weight" has shape \[32, 4, 3, 3\], the config \(block_out_channels\[0\]=64, in_channels=4, conv_in_kernel=3\) needs \[64, 4, 3, 3\]/);
});

test('configs are checked by the schemas the runtime reads them with', async () => {
  const dir = copyModel();
  editJson(path.join(dir, 'unet', 'config.json'), (c) => { c.addition_embed_type = 'text_time'; });
  editJson(path.join(dir, 'vae', 'config.json'), (c) => { c.up_block_types = ['UpDecoderBlock2D']; });
  editJson(path.join(dir, 'scheduler', 'scheduler_config.json'), (c) => { c.beta_schedule = 'sigmoid'; });
  const { problems } = await inspectModel(dir);
  assert.deepEqual(problems.slice(0, 2), [
    'unet/config.json: field "addition_embed_type": addition embeddings (SDXL-style) are not supported',
    'vae/config.json: field "up_block_types": has 1 entries, block_out_channels has 2',
  ]);
  assert.match(problems[2]!, /^scheduler\/scheduler_config\.json: field "beta_schedule": /);
  assert.equal(problems.length, 3, problems.join('\n'));
});

test('pipeline class and component problems', async () => {
  const dir = copyModel();
  editJson(path.join(dir, 'model_index.json'), (c) => {
    c._class_name = 'StableDiffusionXLPipeline';
    delete c.vae;
  });
  rmSync(path.join(dir, 'tokenizer', 'merges.txt'));
  writeFileSync(path.join(dir, 'vae', 'config.json'), '{"in_channels": 3,');
  const { problems } = await inspectModel(dir);
  assert.deepEqual(problems.slice(0, 2), [
    'model_index.json: StableDiffusionXLPipeline is Stable Diffusion XL, which is not supported (use a Stable Diffusion 1.x or 2.x pipeline)',
    'model_index.json: no "vae" component',
  ]);
  assert.match(problems[2]!, /^vae\/config\.json: not valid JSON/);
  assert.ok(problems.includes('tokenizer/merges.txt: missing'));

  const noWeights = copyModel();
  rmSync(path.join(noWeights, 'vae', 'diffusion_pytorch_model.safetensors'));
  assert.deepEqual((await inspectModel(noWeights)).problems, [
    'vae: no safetensors weights found (expected diffusion_pytorch_model.safetensors; .bin checkpoints are not supported, convert them to safetensors)',
  ]);
});

test('hashes of plain files are checked against published hashes when given', async () => {
  const dir = copyModel();
  const sha256 = (rel: string) => createHash('sha256').update(readFileSync(path.join(dir, rel))).digest('hex');
  const published = new Map([
    ['unet/diffusion_pytorch_model.safetensors', sha256('unet/diffusion_pytorch_model.safetensors')],
    ['vae/diffusion_pytorch_model.safetensors', '0'.repeat(64)],
  ]);
  const report = await inspectModel(dir, { hashes: true, publishedHashes: published });
  assert.equal(report.hashes!.checked, 2);
  assert.equal(report.hashes!.unchecked.length, 10);
  assert.match(report.problems.join('\n'), new RegExp(`^vae/diffusion_pytorch_model\\.safetensors: contents have sha256 ${sha256('vae/diffusion_pytorch_model.safetensors')}, the published hash is 0{64}`));
  assert.equal(report.problems.length, 1);
});
