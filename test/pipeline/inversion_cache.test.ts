import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSha256, InversionCache, keyId, modelFingerprint, type InversionKey } from '../../companion/pipeline/inversion_cache.ts';
import { LatentStoreWriter } from '../../companion/pipeline/latent_store.ts';

const TINY = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));
const layout = { frames: 4, channels: 4, height: 8, width: 8, timesteps: [981, 1] };
/** Store files of one entry: z0 and 2 timesteps of 4 frames [4, 8, 8] float32. */
const ENTRY_BYTES = 3 * 4 * 4 * 8 * 8 * 4;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-cache-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function key(over: Partial<InversionKey> = {}): InversionKey {
  return {
    source: { path: '/clips/a.mov', size: 1000, mtimeMs: 1700000000000 },
    range: { startTicks: '0', endTicks: '254016000000' },
    framesHash: 'f'.repeat(64),
    frameSubset: 'all',
    model: 'm'.repeat(32),
    width: 64,
    height: 64,
    inversionSteps: 50,
    savedTimesteps: [981, 1],
    inversionPrompt: 'a photo',
    ...over,
  };
}

/** Builds and commits an entry the way the pipeline does: store written in the pending folder. */
function put(cache: InversionCache, k: InversionKey, fill = 1): string {
  const pending = cache.begin(k);
  const writer = LatentStoreWriter.create(pending.dir, layout);
  writer.writeZ0(0, new Float32Array(4 * 4 * 8 * 8).fill(fill));
  writer.finish();
  return pending.commit();
}

test('miss, then hit after commit; every part of the key matters', (t) => {
  const cache = new InversionCache(tempDir(t));
  assert.equal(cache.lookup(key()), null);
  const dir = put(cache, key());
  assert.equal(cache.lookup(key()), dir);
  assert.equal(path.basename(dir), keyId(key()));
  const changes: Array<Partial<InversionKey>> = [
    { source: { path: '/clips/a.mov', size: 1001, mtimeMs: 1700000000000 } },
    { source: { path: '/clips/a.mov', size: 1000, mtimeMs: 1700000000001 } },
    { source: { path: '/clips/b.mov', size: 1000, mtimeMs: 1700000000000 } },
    { range: { startTicks: '1', endTicks: '254016000000' } },
    { framesHash: 'e'.repeat(64) },
    { frameSubset: [0, 5] },
    { model: 'n'.repeat(32) },
    { width: 72 },
    { inversionSteps: 500 },
    { savedTimesteps: [999, 981, 1] },
    { inversionPrompt: 'a video' },
  ];
  for (const c of changes) assert.equal(cache.lookup(key(c)), null, JSON.stringify(c));
});

test('half-written entries are never used; stale temporary folders of dead processes are removed', (t) => {
  const root = tempDir(t);
  const cache = new InversionCache(root);
  const pending = cache.begin(key());
  LatentStoreWriter.create(pending.dir, layout).abandon(); // crashed mid-write
  assert.equal(cache.lookup(key()), null, 'nothing under the final name');
  // The same content renamed by hand into place, without its store.json: still not used.
  fs.renameSync(pending.dir, path.join(root, keyId(key())));
  fs.writeFileSync(path.join(root, keyId(key()), 'entry.json'), JSON.stringify({ key: key() }));
  assert.equal(cache.lookup(key()), null, 'an entry whose store is unfinished is a miss');
  fs.rmSync(path.join(root, keyId(key())), { recursive: true });
  // A temporary folder left by a dead process goes away on the next begin().
  const orphan = path.join(root, `.tmp-${keyId(key())}-999999999-1-0`);
  fs.mkdirSync(orphan);
  cache.begin(key({ inversionPrompt: 'other' })).discard();
  assert.equal(fs.existsSync(orphan), false);
  assert.deepEqual(fs.readdirSync(root), []);
});

test('bounded size: least recently used entries are evicted first; the new entry stays; too-large entries do not fit', async (t) => {
  const cache = new InversionCache(tempDir(t), Math.floor(2.5 * (ENTRY_BYTES + 200)));
  const a = put(cache, key({ inversionPrompt: 'a' }));
  await new Promise((r) => setTimeout(r, 20));
  const b = put(cache, key({ inversionPrompt: 'b' }));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(cache.lookup(key({ inversionPrompt: 'a' })), a, 'a used again: b is now the least recently used');
  await new Promise((r) => setTimeout(r, 20));
  const c = put(cache, key({ inversionPrompt: 'c' }));
  assert.deepEqual(cache.entries().map((e) => e.dir).sort(), [a, c].sort());
  assert.equal(cache.lookup(key({ inversionPrompt: 'b' })), null);
  assert.ok(cache.totalBytes <= cache.maxBytes);
  assert.equal(cache.fits(cache.maxBytes), true);
  assert.equal(cache.fits(cache.maxBytes + 1), false);
  // A bound below one entry keeps just the newest.
  const tiny = new InversionCache(cache.dir, 1);
  const d = put(tiny, key({ inversionPrompt: 'd' }));
  assert.deepEqual(tiny.entries().map((e) => e.dir), [d]);
});

test('model fingerprint follows configs and weight files; frames hash is the content', (t) => {
  const dir = tempDir(t);
  const copy = path.join(dir, 'model');
  fs.cpSync(TINY, copy, { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) });
  const before = modelFingerprint(copy);
  assert.equal(modelFingerprint(copy), before);
  const config = path.join(copy, 'vae', 'config.json');
  fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('"scaling_factor": 0.18215', '"scaling_factor": 0.2'));
  const afterConfig = modelFingerprint(copy);
  assert.notEqual(afterConfig, before);
  const weights = path.join(copy, 'unet', 'diffusion_pytorch_model.safetensors');
  fs.utimesSync(weights, new Date(), new Date(Date.now() + 5000));
  assert.notEqual(modelFingerprint(copy), afterConfig);

  const f = path.join(dir, 'frames.rgb');
  fs.writeFileSync(f, Buffer.from([1, 2, 3]));
  assert.equal(fileSha256(f), '039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81');
});
