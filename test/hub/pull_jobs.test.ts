// Model jobs against the local fake hub: progress to the end with the same cache layout and
// hash checks as `tokenflow models pull`, the free-space refusal, cancel, and a job resumed by
// a new service (a daemon restart) from the partial download an interrupted one left.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ModelJob as ModelJobSchema, type ModelJob } from '../../shared/model_pulls.ts';
import { hubCacheDir } from '../../companion/hub/hf_cache.ts';
import { ModelPullError, ModelPullService, MODEL_JOBS_FILE } from '../../companion/hub/pull_jobs.ts';
import { FakeHub, readModelFiles } from '../helpers/fake_hub.ts';

const FIXTURE = 'test/fixtures/tiny-sd15';
const REPO = 'tiny/sd15';
const UNET = 'unet/diffusion_pytorch_model.safetensors';
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-pulljobs-'));
const modelFiles = readModelFiles(FIXTURE);
const modelBytes = Object.entries(modelFiles)
  .filter(([name]) => !name.endsWith('.md'))
  .reduce((a, [, b]) => a + b.length, 0);
let hub: FakeHub;
let homes = 0;

before(async () => {
  hub = await FakeHub.start();
  hub.addRepo(REPO, modelFiles);
});
after(async () => {
  await hub.close();
  rmSync(tmpRoot, { recursive: true, force: true });
});

function service(home: string, extra: Partial<ConstructorParameters<typeof ModelPullService>[0]> = {}) {
  const env = { HF_HOME: path.join(home, 'hf'), HF_ENDPOINT: hub.endpoint };
  const events: ModelJob[] = [];
  const s = new ModelPullService({ dataDir: path.join(home, 'data'), env, retry: { attempts: 2, baseDelayMs: 10, stallTimeoutMs: 5000 }, ...extra });
  s.onEvent((job) => events.push(ModelJobSchema.parse(job)));
  return { s, env, events };
}

async function settled(s: ModelPullService, id: string, ms = 30_000): Promise<ModelJob> {
  const end = Date.now() + ms;
  for (;;) {
    const job = s.get(id)!;
    if (!['queued', 'running'].includes(job.state)) return job;
    if (Date.now() > end) throw new Error(`model job still ${job.state} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a pull reports progress to the end and leaves a verified model in the HF cache', async () => {
  const home = path.join(tmpRoot, `h${++homes}`);
  const { s, env, events } = service(home);
  s.start();
  const { job, created } = await s.submit({ id: REPO });
  assert.equal(created, true);
  assert.ok(job.bytes_total > 0 && job.bytes_total <= modelBytes, `${job.bytes_total} of ${modelBytes}`);
  const done = await settled(s, job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.bytes_done, done.bytes_total);
  const running = events.filter((e) => e.state === 'running' && e.file !== null);
  assert.ok(running.length >= 2, 'progress events while downloading');
  for (let i = 1; i < running.length; i++) assert.ok(running[i]!.bytes_done >= running[i - 1]!.bytes_done, 'bytes done never go back');
  assert.ok(running.some((e) => e.file === UNET));
  const repoDir = path.join(hubCacheDir(env), 'models--tiny--sd15');
  const snapshot = readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8').trim();
  assert.deepEqual(readFileSync(path.join(repoDir, 'snapshots', snapshot, UNET)), modelFiles[UNET]);
  // Kept on disk for the next start; a second pull of the cached model has nothing to fetch.
  assert.equal(JSON.parse(readFileSync(path.join(home, 'data', MODEL_JOBS_FILE), 'utf8'))[0].state, 'succeeded');
  const again = await s.submit({ id: REPO });
  assert.equal(again.job.bytes_total, 0);
  assert.equal((await settled(s, again.job.id)).state, 'succeeded');
});

test('not enough free space: 507 naming the bytes needed, the bytes free and the folder; nothing starts', async () => {
  const home = path.join(tmpRoot, `h${++homes}`);
  const { s, env } = service(home, { freeBytes: async () => 1000 });
  s.start();
  await assert.rejects(s.submit({ id: REPO }), (err: ModelPullError) => {
    assert.equal(err.status, 507);
    assert.equal(err.code, 'disk_full');
    assert.match(err.message, /needs [\d.]+ MB more in .*models--tiny--sd15.*blobs, but only 0\.0 MB is free there/);
    return true;
  });
  assert.deepEqual(s.list(), []);
  assert.equal(existsSync(path.join(hubCacheDir(env), 'models--tiny--sd15', 'snapshots')), false);
});

test('unknown models and non-pipelines are refused with a reason', async () => {
  const { s } = service(path.join(tmpRoot, `h${++homes}`));
  await assert.rejects(s.submit({ id: 'nobody/nothing' }), (err: ModelPullError) => err.status === 404 && err.code === 'model_not_found');
});

test('cancel stops a running pull; a restarted service resumes an interrupted one from its partial file', async () => {
  const home = path.join(tmpRoot, `h${++homes}`);
  // The UNet's connection drops after 1000 bytes, and the retry waits long: the job is
  // running with a partial file when it is canceled / when the service stops.
  hub.dropOnce.set(UNET, 1000);
  const first = service(home, { retry: { attempts: 3, baseDelayMs: 60_000, stallTimeoutMs: 5000 } });
  first.s.start();
  const { job } = await first.s.submit({ id: REPO });
  const partialWritten = async () => {
    for (let i = 0; i < 3000 && !first.events.some((e) => e.file === UNET && e.bytes_done > 0); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
  };
  await partialWritten();
  const canceled = first.s.cancel(job.id);
  assert.equal(canceled.state, 'canceled');
  assert.equal((await settled(first.s, job.id)).state, 'canceled');

  // A new job, interrupted by a stop while it waits to retry.
  hub.dropOnce.set(UNET, 1000);
  const second = await first.s.submit({ id: REPO });
  assert.equal(second.created, true);
  await new Promise((r) => setTimeout(r, 500));
  await first.s.close();
  assert.equal(JSON.parse(readFileSync(path.join(home, 'data', MODEL_JOBS_FILE), 'utf8')).find((j: ModelJob) => j.id === second.job.id).state, 'running');

  const before = hub.fileRequests(UNET).length;
  const restarted = service(home);
  restarted.s.start();
  const done = await settled(restarted.s, second.job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.bytes_done, done.bytes_total);
  const ranges = hub.fileRequests(UNET).slice(before).map((r) => r.range).filter(Boolean);
  assert.ok(ranges.some((r) => /^bytes=[1-9]\d*-$/.test(r!)), `the restarted job resumed with a Range request (got ${JSON.stringify(ranges)})`);
});
