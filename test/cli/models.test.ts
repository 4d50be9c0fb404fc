import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FakeHub, readModelFiles } from '../helpers/fake_hub.ts';

const FIXTURE = 'test/fixtures/tiny-sd15';
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-cli-models-'));
let hub: FakeHub;
let env: Record<string, string>;

before(async () => {
  hub = await FakeHub.start();
  hub.addRepo('tiny/sd15', readModelFiles(FIXTURE));
  // TOKENFLOW_MODELS: one folder holding a good and a broken model.
  const folders = path.join(tmpRoot, 'my-models');
  for (const name of ['good', 'broken']) {
    cpSync(FIXTURE, path.join(folders, name), { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) });
  }
  rmSync(path.join(folders, 'broken', 'unet', 'config.json'));
  mkdirSync(path.join(tmpRoot, 'home'));
  env = {
    PATH: process.env.PATH ?? '',
    HOME: path.join(tmpRoot, 'home'),
    HF_HOME: path.join(tmpRoot, 'hf'),
    HF_ENDPOINT: hub.endpoint,
    TOKENFLOW_MODELS: folders,
  };
});

after(async () => {
  await hub.close();
  rmSync(tmpRoot, { recursive: true, force: true });
});

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['bin/tokenflow.mjs', 'models', ...args], { env }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );

test('models pull, list and verify on a hub model', async () => {
  const pulled = await run('pull', 'tiny/sd15');
  assert.equal(pulled.code, 0, pulled.stderr);
  const lines = pulled.stdout.trimEnd().split('\n');
  const commit = hub.repos.get('tiny/sd15')!.sha;
  const snapshot = path.join(tmpRoot, 'hf', 'hub', 'models--tiny--sd15', 'snapshots', commit);
  assert.equal(lines.at(-1), snapshot);
  assert.match(lines[0]!, new RegExp(`^tiny/sd15@${commit.slice(0, 12)}: 12 files, 12 downloaded \\(16\\.4 MB\\), 0 already in the cache$`));
  // Progress goes to stderr (a pipe here: one line per file start/end), plus the fp16 fallback notes.
  assert.match(pulled.stderr, /unet: the repo has no fp16 weights; using unet\/diffusion_pytorch_model\.safetensors \(fp32\)/);
  assert.match(pulled.stderr, /^\[12\/12\] .+ total 100% of 16\.4 MB/m);

  const again = await run('pull', 'tiny/sd15', '--fp32');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /12 files, 0 downloaded \(0 B\), 12 already in the cache/);

  const listed = await run('list');
  assert.equal(listed.code, 0, listed.stderr);
  const rows = listed.stdout.split('\n');
  assert.match(rows[0]!, /^ID +PRECISION +SIZE +STATUS +PATH$/);
  assert.match(rows.find((r) => r.startsWith('tiny-sd15 '))!, /fp32 +16\.4 MB +ok +.*test[\\/]fixtures[\\/]tiny-sd15$/);
  assert.match(rows.find((r) => r.startsWith('tiny/sd15 '))!, new RegExp(`fp32 +16\\.4 MB +ok +${snapshot.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  const broken = rows.findIndex((r) => r.includes(`my-models${path.sep}broken`));
  assert.match(rows[broken]!, /INVALID/);
  assert.equal(rows[broken + 1], '    unet/config.json: missing');
  assert.match(rows.find((r) => r.includes(`my-models${path.sep}good`))!, / ok /);

  const json = await run('list', '--json');
  const models = JSON.parse(json.stdout) as Array<{ id: string; source: string; ok: boolean }>;
  assert.deepEqual(models.map((m) => [m.source, m.ok]), [['bundled', true], ['hf-cache', true], ['folder', false], ['folder', true]]);

  const verified = await run('verify', 'tiny/sd15', '--hashes');
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, /StableDiffusionPipeline, fp32 weights, 16\.4 MB\n  hashes: 12 files match their published hash\n  ok: usable/);
});

test('models verify on folders; errors and usage', async () => {
  const [good, broken, unknown, usage] = await Promise.all([
    run('verify', path.join(tmpRoot, 'my-models', 'good')),
    run('verify', path.join(tmpRoot, 'my-models', 'broken')),
    run('pull', 'nobody/nothing'),
    run('pull', 'a/b', '--fp16', '--fp32'),
  ]);
  assert.equal(good.code, 0);
  assert.match(good.stdout, /ok: usable/);
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /NOT usable \(1 problem\):\n  - unet\/config\.json: missing/);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /tokenflow models: no model "nobody\/nothing" on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\)/);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--fp16 and --fp32 exclude each other/);
});
