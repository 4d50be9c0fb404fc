import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph } from '../../companion/runtime/graph.ts';
import { conv2d, groupNorm, linear } from '../../companion/runtime/nn.ts';
import { writeSafetensors } from '../../companion/runtime/safetensors.ts';
import { createSession, defaultProviders, run, ort } from '../../companion/runtime/session.ts';
import { WeightStore } from '../../companion/runtime/weights.ts';

const dir = mkdtempSync(join(tmpdir(), 'tf-g-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function store(): WeightStore {
  const file = join(dir, 'w.safetensors');
  writeSafetensors(file, {
    'proj.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 0, 0, 0, 2, 1]) },
    'proj.bias': { dtype: 'F32', shape: [2], data: Float32Array.from([0.5, -1]) },
    'norm.weight': { dtype: 'F32', shape: [4], data: Float32Array.from([1, 2, 1, 1]) },
    'norm.bias': { dtype: 'F32', shape: [4], data: Float32Array.from([0, 0, 3, 0]) },
    'conv.weight': { dtype: 'F32', shape: [1, 4, 1, 1], data: Float32Array.from([1, 1, 1, 1]) },
    'conv.bias': { dtype: 'F32', shape: [1], data: Float32Array.from([10]) },
  });
  return WeightStore.open('toy', [file]);
}

test('linear reads external weights straight from the safetensors file', async () => {
  const s = store();
  const g = new Graph('toy');
  const x = g.input('x', 'float32', [1, 3]);
  g.output(linear(g, s.root().pp('proj'), x, 3, 2), 'y');
  const loaded = await createSession(g);
  const { y } = await run(loaded, { x: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]) });
  assert.deepEqual([...(y!.data as Float32Array)], [1.5, 6]);
});

test('group norm matches the definition and the affine is applied per channel', async () => {
  const s = store();
  const g = new Graph('gn');
  const x = g.input('x', 'float32', [1, 4, 1, 2]);
  const w = s.root();
  const n = groupNorm(g, w.pp('norm'), x, 4, 2, 1e-5);
  g.output(n, 'n');
  g.output(conv2d(g, w.pp('conv'), n, 4, 1, { kernel: 1 }), 'c');
  const loaded = await createSession(g);
  const data = Float32Array.from([1, 3, 5, 7, 0, 0, 2, 2]);
  const out = await run(loaded, { x: new ort.Tensor('float32', data, [1, 4, 1, 2]) });
  // group 0 = channels 0,1: values 1,3,5,7 mean 4 var 5
  const expected: number[] = [];
  const groups = [[1, 3, 5, 7], [0, 0, 2, 2]];
  const gamma = [1, 2, 1, 1]; const beta = [0, 0, 3, 0];
  groups.forEach((vals, gi) => {
    const mean = vals.reduce((a, b) => a + b) / 4;
    const v = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
    vals.forEach((val, i) => { const c = gi * 2 + (i >> 1); expected.push(((val - mean) / Math.sqrt(v + 1e-5)) * gamma[c]! + beta[c]!); });
  });
  const got = [...(out.n!.data as Float32Array)];
  got.forEach((val, i) => assert.ok(Math.abs(val - expected[i]!) < 1e-5, `n[${i}] ${val} vs ${expected[i]}`));
  const sum0 = expected[0]! + expected[2]! + expected[4]! + expected[6]! + 10;
  assert.ok(Math.abs((out.c!.data as Float32Array)[0]! - sum0) < 1e-4);
});

test('providers are tried one by one and fall back to CPU with a log line', async () => {
  const s = store();
  const g = new Graph('fallback');
  const x = g.input('x', 'float32', [1, 3]);
  g.output(linear(g, s.root().pp('proj'), x, 3, 2), 'y');
  const lines: string[] = [];
  const unavailable = process.platform === 'win32' ? 'coreml' : 'dml';
  const loaded = await createSession(g, { providers: [unavailable, 'cpu'], log: (l) => lines.push(l) });
  assert.equal(loaded.provider, 'cpu');
  assert.match(lines.join('\n'), new RegExp(`fallback: running on cpu \\(skipped ${unavailable}: .+\\)`));
  assert.equal(defaultProviders('linux', 'arm64').at(-1), 'cpu');
  assert.deepEqual(defaultProviders('win32', 'x64'), ['dml', 'webgpu', 'cpu']);
  assert.deepEqual(defaultProviders('darwin', 'arm64'), ['webgpu', 'cpu']); // CoreML only when asked for
});

test('a missing feed names the input', async () => {
  const s = store();
  const g = new Graph('feeds');
  const x = g.input('x', 'float32', [1, 3]);
  g.output(linear(g, s.root().pp('proj'), x, 3, 2), 'y');
  const loaded = await createSession(g);
  await assert.rejects(run(loaded, {}), /missing input\(s\) x/);
});

test('If subgraphs read outer values and external weights; only the chosen branch runs', async () => {
  const s = store().root();
  const g = new Graph('toy-if');
  const x = g.input('x', 'float32', [1, 3]);
  const cond = g.input('cond', 'bool', [1]);
  const [y, n] = g.op('If', [cond], {
    then_branch: g.subgraph('then', () => [
      { value: linear(g, s.pp('proj'), x, 3, 2), type: 'float32' },
      { value: g.constant([7], 'int64', [1]), type: 'int64' },
    ]),
    // An empty tensor of the same type: branches may differ in shape.
    else_branch: g.subgraph('else', () => [
      { value: g.node('Mul', [x, g.scalar(2)]), type: 'float32' },
      { value: g.constant([], 'int64', [0]), type: 'int64' },
    ]),
  }, { outputs: 2 });
  g.output(y!, 'y');
  g.output(n!, 'n', 'int64');
  const session = await createSession(g, { providers: ['cpu'] });
  const feeds = (c: boolean) => ({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]), cond: new ort.Tensor('bool', Uint8Array.of(c ? 1 : 0), [1]) });
  const on = await run(session, feeds(true));
  assert.deepEqual([...(on.y!.data as Float32Array)], [1.5, 6]); // [1,0,0]·x + 0.5, [0,2,1]·x - 1
  assert.deepEqual([...(on.n!.data as BigInt64Array)], [7n]);
  const off = await run(session, feeds(false));
  assert.deepEqual([...(off.y!.data as Float32Array)], [2, 4, 6]);
  assert.deepEqual(off.n!.dims, [0]);
});
