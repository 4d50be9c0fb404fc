// The daemon's model checks: once per folder identity, in one reused worker thread, re-checked
// when a file of the folder changes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, truncateSync, statSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachedInspector, folderIdentity, InspectWorker, inspectOffThread } from '../../companion/hub/report_cache.ts';
import { resolveModel } from '../../companion/hub/catalog.ts';
import { inspectModel, ModelValidationError, type ModelReport } from '../../companion/hub/validate.ts';

const FIXTURE = path.resolve('test/fixtures/tiny-sd15');
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-reports-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));

function copyModel(name: string): string {
  const dir = path.join(tmpRoot, name);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}golden`) });
  return dir;
}

/** inspectModel, counting the folders it was asked to inspect. */
function countingInspector() {
  const calls: string[] = [];
  const inspect = async (dir: string): Promise<ModelReport> => {
    calls.push(dir);
    return inspectModel(dir);
  };
  return { calls, inspect };
}

test('a burst of checks of one folder makes one inspection; the report is the folder\'s', async () => {
  const dir = copyModel('burst');
  const { calls, inspect } = countingInspector();
  const cached = cachedInspector(inspect);
  const reports = await Promise.all(Array.from({ length: 200 }, () => cached(dir)));
  assert.deepEqual(calls, [dir]);
  assert.ok(reports.every((r) => r === reports[0]));
  assert.equal(reports[0].ok, true);
  assert.deepEqual(reports[0], await inspectModel(dir));
  await cached(dir);
  assert.equal(calls.length, 1, 'still cached later');
});

test('a changed file (size or mtime) is a new identity: the folder is inspected again, and a broken one says so', async () => {
  const dir = copyModel('changes');
  const { calls, inspect } = countingInspector();
  const cached = cachedInspector(inspect);
  const before = await folderIdentity(dir);
  assert.equal((await cached(dir)).ok, true);
  const weights = path.join(dir, 'unet', 'diffusion_pytorch_model.safetensors');
  truncateSync(weights, statSync(weights).size - 100);
  assert.notEqual(await folderIdentity(dir), before);
  const broken = await cached(dir);
  assert.equal(broken.ok, false);
  assert.ok(broken.problems.some((p) => p.includes('unet/diffusion_pytorch_model.safetensors')), broken.problems.join('\n'));
  assert.equal(calls.length, 2);
  // resolveModel with the cached inspector refuses it, naming the file.
  await assert.rejects(resolveModel(dir, { inspect: cached }), (err: unknown) => err instanceof ModelValidationError && /unet\/diffusion_pytorch_model/.test(err.message));
  assert.equal(calls.length, 2, 'the refusal came from the cache');
  // A touched config is a change too.
  const config = path.join(dir, 'vae', 'config.json');
  utimesSync(config, new Date(), new Date(Date.now() + 5_000));
  await cached(dir);
  assert.equal(calls.length, 3);
  // Two folders are cached apart.
  const other = copyModel('other');
  assert.equal((await cached(other)).ok, true);
  assert.equal(calls.length, 4);
});

test('inspectOffThread: the same report as in this thread, computed in a worker', async () => {
  const report = await inspectOffThread(FIXTURE);
  assert.deepEqual(report, await inspectModel(FIXTURE));
  const missing = await inspectOffThread(path.join(tmpRoot, 'no-such-model'));
  assert.equal(missing.ok, false);
  assert.match(missing.problems.join('\n'), /model_index\.json: missing/);
});

test('InspectWorker: one thread answers every check, in order; a thread that ended is replaced at the next check', async () => {
  const inspector = new InspectWorker();
  const missingDir = path.join(tmpRoot, 'not-a-model');
  const [first, missing, again] = await Promise.all([inspector.inspect(FIXTURE), inspector.inspect(missingDir), inspector.inspect(FIXTURE)]);
  assert.deepEqual(first, await inspectModel(FIXTURE));
  assert.deepEqual(again, first);
  assert.equal(missing.ok, false);
  assert.deepEqual(await inspector.inspect(FIXTURE), first);
  assert.equal(inspector.started, 1);

  await inspector.close();
  assert.deepEqual(await inspector.inspect(FIXTURE), first);
  assert.equal(inspector.started, 2);
  // Idle, it does not keep the test process alive (the file would never end); closed here anyway.
  await inspector.close();
});
