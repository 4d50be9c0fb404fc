// companion/server/models.ts: the catalog in the protocol's shape, the default model, caching.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ModelInfo } from '../../shared/health.ts';
import { createModelLister } from '../../companion/server/models.ts';
import { cachedInspector } from '../../companion/hub/report_cache.ts';
import { inspectModel } from '../../companion/hub/validate.ts';

const TINY = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-models-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('lists the bundled model; --model tiny-sd15 makes it the default', async (t) => {
  const env = { HF_HUB_CACHE: path.join(tempDir(t), 'hf') };
  const none = await createModelLister({ env }).list();
  assert.deepEqual(none.map((m) => [m.id, m.is_default]), [['tiny-sd15', false]]);
  for (const m of none) ModelInfo.parse(m);
  const withDefault = createModelLister({ env, defaultModel: 'tiny-sd15' });
  assert.equal(withDefault.defaultDir, TINY);
  const [tiny] = await withDefault.list();
  assert.equal(tiny.is_default, true);
  assert.ok((tiny.size_bytes ?? 0) > 1_000_000);
});

test('a default folder outside the catalog is listed under its folder name', async (t) => {
  const root = tempDir(t);
  const folder = path.join(root, 'My Model v2');
  fs.cpSync(TINY, folder, { recursive: true });
  const models = await createModelLister({ env: { HF_HUB_CACHE: path.join(root, 'hf') }, defaultModel: folder }).list();
  assert.deepEqual(models[0], { id: 'My-Model-v2', path: folder, is_default: true, size_bytes: null });
  ModelInfo.parse(models[0]);
});

test('an unknown default model fails with what to do', (t) => {
  const env = { HF_HUB_CACHE: path.join(tempDir(t), 'hf') };
  assert.throws(() => createModelLister({ env, defaultModel: 'org/not-pulled' }), /tokenflow models pull org\/not-pulled/);
});

test('the listing is cached, then refreshed in the background after the TTL', async (t) => {
  const root = tempDir(t);
  const env = { HF_HUB_CACHE: path.join(root, 'hf'), TOKENFLOW_MODELS: '' };
  // A scan inspects every model folder: counting inspections counts scans. (A TTL no machine
  // reaches between two calls, so that no refresh is due.)
  const inspected: string[] = [];
  const counting = createModelLister({ env, ttlMs: 3_600_000, inspect: async (dir) => (inspected.push(dir), inspectModel(dir)) });
  const listed = await counting.list();
  assert.deepEqual(inspected, [TINY]);
  assert.equal(await counting.list(), listed);
  assert.deepEqual(inspected, [TINY], 'a cached listing costs no disk scan');
  const lister = createModelLister({ env, ttlMs: 50 });
  const first = await lister.list();
  assert.equal(await lister.list(), first);
  // A model appears in the cache; after the TTL the next call still answers at once (stale)
  // and starts a refresh that the call after it sees.
  const snapshot = path.join(root, 'hf', 'models--org--tiny', 'snapshots', 'a'.repeat(40));
  fs.mkdirSync(path.dirname(snapshot), { recursive: true });
  fs.cpSync(TINY, snapshot, { recursive: true });
  fs.mkdirSync(path.join(root, 'hf', 'models--org--tiny', 'refs'));
  fs.writeFileSync(path.join(root, 'hf', 'models--org--tiny', 'refs', 'main'), 'a'.repeat(40));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(await lister.list(), first);
  const end = Date.now() + 5000;
  let ids: string[] = [];
  while (Date.now() < end && !ids.includes('org/tiny')) {
    await new Promise((r) => setTimeout(r, 20));
    ids = (await lister.list()).map((m) => m.id);
  }
  assert.deepEqual(ids.sort(), ['org/tiny', 'tiny-sd15']);
});

test('with the daemon\'s cached inspector, refreshes and health re-inspect only folders whose files changed', async (t) => {
  const root = tempDir(t);
  const own = path.join(root, 'models', 'mine');
  fs.cpSync(TINY, own, { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) });
  const env = { HF_HUB_CACHE: path.join(root, 'hf'), TOKENFLOW_MODELS: own };
  const inspected: string[] = [];
  const inspect = cachedInspector(async (dir) => {
    inspected.push(dir);
    return inspectModel(dir);
  });
  const lister = createModelLister({ env, ttlMs: 0, inspect });
  await lister.list();
  assert.deepEqual(inspected.sort(), [TINY, own].sort());
  // ttl 0: every call starts a background refresh, as a stream of health requests would.
  for (let i = 0; i < 20; i++) {
    await lister.list();
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(inspected.length, 2, 'nothing changed: nothing re-inspected');
  fs.appendFileSync(path.join(own, 'scheduler', 'scheduler_config.json'), ' ');
  const end = Date.now() + 5000;
  while (Date.now() < end && inspected.length < 3) {
    await lister.list();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(inspected.slice(2), [own], 'only the changed folder');
});
