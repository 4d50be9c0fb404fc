import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chooseDefaultModel, listModels, resolveModel } from '../../companion/hub/catalog.ts';
import { bundledModelDir } from '../../companion/layout.ts';
import { CachedRepo, hubCacheDir } from '../../companion/hub/hf_cache.ts';
import { ModelValidationError } from '../../companion/hub/validate.ts';

const FIXTURE = 'test/fixtures/tiny-sd15';
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-catalog-'));
const COMMIT = 'a'.repeat(40);

after(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** An HF cache holding org/tiny at COMMIT (plain files, as on Windows without symlinks) and a non-diffusers repo. */
function makeCache(): Record<string, string> {
  const env = { HF_HOME: path.join(tmpRoot, 'hf') };
  const repo = new CachedRepo(hubCacheDir(env), 'org/tiny');
  cpSync(FIXTURE, repo.snapshotDir(COMMIT), { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) });
  repo.writeRef('main', COMMIT);
  const bert = new CachedRepo(hubCacheDir(env), 'google/bert');
  mkdirSync(bert.snapshotDir('b'.repeat(40)), { recursive: true });
  writeFileSync(path.join(bert.snapshotDir('b'.repeat(40)), 'config.json'), '{}');
  bert.writeRef('main', 'b'.repeat(40));
  return env;
}

test('hubCacheDir follows HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, then ~/.cache', () => {
  const home = path.resolve('/home/u');
  assert.equal(hubCacheDir({}, home), path.join(home, '.cache', 'huggingface', 'hub'));
  assert.equal(hubCacheDir({ XDG_CACHE_HOME: path.resolve('/x') }, home), path.resolve('/x/huggingface/hub'));
  assert.equal(hubCacheDir({ XDG_CACHE_HOME: path.resolve('/x'), HF_HOME: '~/hf' }, home), path.join(home, 'hf', 'hub'));
  assert.equal(hubCacheDir({ HF_HOME: path.resolve('/h'), HUGGINGFACE_HUB_CACHE: path.resolve('/legacy') }, home), path.resolve('/legacy'));
  assert.equal(hubCacheDir({ HF_HOME: path.resolve('/h'), HUGGINGFACE_HUB_CACHE: path.resolve('/legacy'), HF_HUB_CACHE: path.resolve('/direct') }, home), path.resolve('/direct'));
});

test('resolveModel: folders, the bundled model, cached hub ids, and what to do otherwise', async () => {
  const env = makeCache();
  const snapshot = new CachedRepo(hubCacheDir(env), 'org/tiny').snapshotDir(COMMIT);
  assert.equal(await resolveModel(FIXTURE, { env }), path.resolve(FIXTURE));
  assert.equal(await resolveModel('tiny-sd15', { env }), bundledModelDir());
  assert.equal(bundledModelDir(), path.resolve(FIXTURE));
  assert.equal(await resolveModel('org/tiny', { env }), snapshot);
  assert.equal(await resolveModel(`org/tiny@${COMMIT}`, { env }), snapshot);
  await assert.rejects(resolveModel('org/tiny@v2', { env }), /model org\/tiny@v2 is not in the Hugging Face cache \(.*\): run `tokenflow models pull org\/tiny --revision v2`/);
  await assert.rejects(resolveModel('org/other', { env }), /run `tokenflow models pull org\/other`/);
  await assert.rejects(resolveModel('./no/such/folder', { env }), /no model folder "\.\/no\/such\/folder"/);

  rmSync(path.join(snapshot, 'vae', 'config.json'));
  await assert.rejects(resolveModel('org/tiny', { env }), (err: ModelValidationError) => {
    assert.ok(err instanceof ModelValidationError);
    assert.match(err.message, /  - vae\/config\.json: missing\nrun `tokenflow models pull org\/tiny` to fetch missing or broken files$/);
    return true;
  });
});

test('listModels: bundled, cached pipelines only, TOKENFLOW_MODELS entries', async () => {
  const env = makeCache();
  const missing = path.join(tmpRoot, 'gone');
  const models = await listModels({ ...env, TOKENFLOW_MODELS: [FIXTURE, missing].join(path.delimiter) });
  assert.deepEqual(models.map((m) => [m.id, m.source, m.ok]), [
    ['tiny-sd15', 'bundled', true],
    ['org/tiny', 'hf-cache', true],
    [path.resolve(FIXTURE), 'folder', true],
    [missing, 'folder', false],
  ]);
  assert.deepEqual(models[3]!.problems, ['folder does not exist']);
  assert.equal(models[1]!.precision, 'fp32');
  assert.equal(models[1]!.sizeBytes, models[0]!.sizeBytes);
});

test('chooseDefaultModel: the reference base model if installed, else any usable one, else the bundled model', async () => {
  const empty = { HF_HOME: path.join(tmpRoot, 'empty-hf') };
  assert.equal(await chooseDefaultModel(empty), 'tiny-sd15');
  const env = { HF_HOME: path.join(tmpRoot, 'hf-default') };
  for (const id of ['org/other', 'stabilityai/stable-diffusion-2-1-base']) {
    const repo = new CachedRepo(hubCacheDir(env), id);
    cpSync(FIXTURE, repo.snapshotDir(COMMIT), { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) });
    repo.writeRef('main', COMMIT);
  }
  assert.equal(await chooseDefaultModel(env), 'stabilityai/stable-diffusion-2-1-base');
  rmSync(path.join(hubCacheDir(env), 'models--stabilityai--stable-diffusion-2-1-base'), { recursive: true });
  assert.equal(await chooseDefaultModel(env), 'org/other');
});
