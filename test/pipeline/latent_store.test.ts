import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LatentStore, LatentStoreWriter } from '../../companion/pipeline/latent_store.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-store-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const layout = { frames: 5, channels: 4, height: 3, width: 2, timesteps: [999, 501, 1] };
const PER = 4 * 3 * 2;

/** Frame f at timestep t holds t * 1000 + f * 100 + element index. */
function chunk(t: number, first: number, count: number): Float32Array {
  return Float32Array.from({ length: count * PER }, (_, i) => t * 1000 + (first + Math.floor(i / PER)) * 100 + (i % PER));
}

test('chunks written per timestep are read back per timestep and per frame range', (t) => {
  const dir = tempDir(t);
  const writer = LatentStoreWriter.create(dir, layout);
  for (const [first, count] of [[0, 2], [2, 2], [4, 1]] as const) {
    writer.writeZ0(first, chunk(0, first, count));
    assert.deepEqual(writer.readZ0(first, count), chunk(0, first, count));
    for (const ts of layout.timesteps) writer.writeTimestep(ts, first, chunk(ts, first, count));
  }
  assert.throws(() => writer.writeTimestep(500, 0, chunk(500, 0, 1)), /timestep 500 is not one of the saved 999, 501, 1/);
  assert.throws(() => writer.writeZ0(4, chunk(0, 4, 2)), /do not fit 5 frames/);
  const store = writer.finish();
  assert.deepEqual(store.readZ0(), chunk(0, 0, 5));
  assert.deepEqual(store.read(501), chunk(501, 0, 5));
  assert.deepEqual(store.read(1, 3, 2), chunk(1, 3, 2));
  assert.equal(store.has(999), true);
  assert.equal(store.has(981), false);
  assert.throws(() => store.read(981), /no latents for timestep 981 \(saved: 999, 501, 1\)/);
  assert.throws(() => store.read(1, 4, 2), /frames 4\.\.5 are outside 0\.\.4/);
  assert.equal(store.bytes, 4 * 5 * PER * 4);
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.f32')).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0), store.bytes);
});

test('an unfinished store cannot be opened; a damaged one names its file', (t) => {
  const dir = tempDir(t);
  const writer = LatentStoreWriter.create(dir, layout);
  writer.writeZ0(0, chunk(0, 0, 5));
  writer.abandon();
  assert.throws(() => LatentStore.open(dir), /no readable store\.json \(an unfinished store\?\)/);

  const done = LatentStoreWriter.create(dir, layout).finish();
  assert.equal(done.layout.frames, 5);
  fs.truncateSync(path.join(dir, 't0501.f32'), 10);
  assert.throws(() => LatentStore.open(dir), /t0501\.f32 has 10 bytes, expected 480/);
  fs.rmSync(path.join(dir, 't0001.f32'));
  assert.throws(() => LatentStore.open(dir), /t0001\.f32 is missing|t0501\.f32 has 10 bytes/);
});
