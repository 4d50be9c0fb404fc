import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTextEncoderGraph } from '../../companion/models/clip_text.ts';
import { GraphCache, type GraphKey } from '../../companion/runtime/graph_cache.ts';
import { openComponentWeights } from '../../companion/models/folder.ts';
import { createSessionFromBytes, run, ort } from '../../companion/runtime/session.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-gc-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = 'test/fixtures/tiny-sd15';

test('a built graph is cached by key, reused, and runs from the cached bytes', async () => {
  const cache = new GraphCache(dir);
  const key: GraphKey = {
    component: 'text_encoder', config: { hidden_size: 32 }, mode: 'plain', dtype: 'float32',
    weights: openComponentWeights(MODEL, 'text_encoder').fingerprint(), provider: 'cpu',
  };
  let builds = 0;
  const build = () => { builds++; const { graph } = buildTextEncoderGraph(MODEL); return { bytes: graph.toBytes(), weightsFolder: graph.weightsFolder }; };
  const first = cache.get(key, build);
  const second = cache.get(key, build);
  assert.equal(builds, 1);
  assert.equal(first.hit, false);
  assert.equal(second.hit, true);
  assert.deepEqual(Buffer.from(second.bytes), Buffer.from(first.bytes));
  cache.get({ ...key, mode: 'other' }, build);
  cache.get({ ...key, provider: 'cuda' }, build);
  assert.equal(builds, 3);
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.onnx')).length, 3);
  const loaded = await createSessionFromBytes('text_encoder', second.bytes, second.weightsFolder);
  const ids = new BigInt64Array(77).fill(49407n); ids[0] = 49406n;
  const out = await run(loaded, { input_ids: new ort.Tensor('int64', ids, [1, 77]) });
  assert.deepEqual(out.last_hidden_state!.dims, [1, 77, 32]);
});

test('the cache stays within its size bound, newest kept', () => {
  const small = join(dir, 'small');
  const cache = new GraphCache(small, 1);
  const key: GraphKey = { component: 'x', config: {}, mode: 'a', dtype: 'float32', weights: 'w', provider: 'cpu' };
  cache.get(key, () => ({ bytes: new Uint8Array(10), weightsFolder: undefined }));
  cache.get({ ...key, mode: 'b' }, () => ({ bytes: new Uint8Array(10), weightsFolder: undefined }));
  const left = readdirSync(small).filter((f) => f.endsWith('.onnx'));
  assert.equal(left.length, 1);
  assert.match(left[0]!, /^x-b-/);
});
