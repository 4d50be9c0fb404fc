import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobServiceError } from '../../companion/jobs/errors.ts';
import { PresetStore } from '../../companion/jobs/presets_store.ts';
import { BUILTIN_PRESETS, PresetBody } from '../../shared/presets.ts';
import { tempDir } from './helpers.ts';

test('user presets are stored atomically and listed after the built-ins', async (t) => {
  const dir = tempDir(t);
  const store = new PresetStore(dir);
  store.load();
  assert.equal(store.list().length, BUILTIN_PRESETS.length);
  const p = await store.put('sepia-film', PresetBody.parse({ description: 'Old film', prompt: '{prompt}, sepia film still', parameters: { steps: 30 } }));
  assert.deepEqual(p, { name: 'sepia-film', description: 'Old film', category: 'custom', prompt: '{prompt}, sepia film still', parameters: { steps: 30 }, builtin: false });
  assert.deepEqual(fs.readdirSync(dir), ['presets.json']);
  const again = new PresetStore(dir);
  again.load();
  assert.deepEqual(again.get('sepia-film'), p);
  assert.equal(again.list().at(-1)!.name, 'sepia-film');
  await again.delete('sepia-film');
  const third = new PresetStore(dir);
  third.load();
  assert.equal(third.get('sepia-film'), undefined);
});

test('built-ins cannot be replaced or deleted; bad names are refused (bodies come parsed from the server)', async (t) => {
  const store = new PresetStore(tempDir(t));
  const builtin = BUILTIN_PRESETS[0].name;
  await assert.rejects(store.put(builtin, PresetBody.parse({ description: '', prompt: '{prompt}' })), (e: unknown) => e instanceof JobServiceError && e.code === 'conflict');
  await assert.rejects(store.delete(builtin), (e: unknown) => e instanceof JobServiceError && e.code === 'conflict');
  await assert.rejects(store.delete('nope'), (e: unknown) => e instanceof JobServiceError && e.code === 'not_found');
  await assert.rejects(store.put('../evil', PresetBody.parse({ description: '', prompt: '{prompt}' })), (e: unknown) => e instanceof JobServiceError && e.code === 'bad_request' && e.field === 'name');
});

test('a damaged presets file is reported, not silently replaced', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'presets.json'), '{"version":1,"presets":[{"name":"x"}]}');
  assert.throws(() => new PresetStore(dir).load(), /presets\.json is not a valid presets file/);
});
