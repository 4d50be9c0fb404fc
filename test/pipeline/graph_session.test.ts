import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlainUNet, VaeDecoder } from '../../companion/pipeline/components.ts';
import { TokenFlowEditor } from '../../companion/pipeline/edit_step.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-gs-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = 'test/fixtures/tiny-sdlayout';

test('component sessions come from the graph cache on the second load, with identical results', async () => {
  const graphCacheDir = join(dir, 'graphs');
  const lines: string[] = [];
  const options = { graphCacheDir, log: (l: string) => lines.push(l) };
  const x = Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => Math.sin(i));
  const text = Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i));
  const shape = { n: 1, c: 4, h: 16, w: 16 };
  const first = await PlainUNet.load(MODEL, options);
  const a = await first.predict(x, shape, 981, text, 32);
  await first.release();
  assert.ok(!lines.some((l) => /graph loaded from the cache/.test(l)));
  const second = await PlainUNet.load(MODEL, options);
  const b = await second.predict(x, shape, 981, text, 32);
  await second.release();
  assert.ok(lines.some((l) => l === 'unet: graph loaded from the cache'), lines.join('\n'));
  assert.deepEqual(b, a);
  await (await VaeDecoder.load(MODEL, options)).release();
  const files = readdirSync(graphCacheDir).filter((f) => f.endsWith('.onnx')).sort();
  assert.equal(files.length, 2);
  assert.match(files[0]!, /^unet-plain-/);
  assert.match(files[1]!, /^vae_decoder-plain-/);
});

test('the TokenFlow editor keeps its hook table through the cache', async () => {
  const graphCacheDir = join(dir, 'tf-graphs');
  const lines: string[] = [];
  const first = await TokenFlowEditor.load(MODEL, { graphCacheDir, log: (l) => lines.push(l) });
  const blocks = first.blockNames;
  await first.release();
  const second = await TokenFlowEditor.load(MODEL, { graphCacheDir, log: (l) => lines.push(l) });
  assert.deepEqual(second.blockNames, blocks);
  assert.equal(blocks.length, 16);
  await second.release();
  assert.ok(lines.includes('unet: graph loaded from the cache'), lines.join('\n'));
});
