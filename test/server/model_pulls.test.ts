// `POST /v1/models/pull` on a real daemon, downloading from the local fake hub: the job,
// `model.progress` events on /v1/events to the end, the job read back after a dropped socket,
// cancel over HTTP, the 507 when the disk is too small, and validation.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorBody } from '../../shared/errors.ts';
import { ModelJob, ModelPullResponse } from '../../shared/model_pulls.ts';
import { ModelPullService } from '../../companion/hub/pull_jobs.ts';
import { FakeHub, readModelFiles } from '../helpers/fake_hub.ts';
import { api, connectEvents, startTestDaemon } from './helpers.ts';

const REPO = 'tiny/sd15';
const UNET = 'unet/diffusion_pytorch_model.safetensors';
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-pullapi-'));
let hub: FakeHub;
let homes = 0;

before(async () => {
  hub = await FakeHub.start();
  hub.addRepo(REPO, readModelFiles('test/fixtures/tiny-sd15'));
});
after(async () => {
  await hub.close();
  rmSync(tmpRoot, { recursive: true, force: true });
});

async function daemonWithPulls(t: { after(fn: () => Promise<void> | void): void }, free?: number, retryDelayMs = 10) {
  const home = path.join(tmpRoot, `h${++homes}`);
  const pulls = new ModelPullService({
    dataDir: path.join(home, 'data'),
    env: { HF_HOME: path.join(home, 'hf'), HF_ENDPOINT: hub.endpoint },
    retry: { attempts: 3, baseDelayMs: retryDelayMs, stallTimeoutMs: 5000 },
    freeBytes: free === undefined ? undefined : async () => free,
  });
  pulls.start();
  t.after(() => pulls.close());
  return startTestDaemon(t, { modelPulls: pulls });
}

test('a pull over HTTP: 202 with the job, model.progress events to success, readable after the socket drops', async (t) => {
  const d = await daemonWithPulls(t);
  const events = await connectEvents(d);
  const res = await api(d, 'POST', '/v1/models/pull', { id: REPO, precision: 'fp32' });
  assert.equal(res.status, 202, res.text);
  const { job } = ModelPullResponse.parse(res.json);
  assert.equal(res.headers.location, `/v1/models/pulls/${job.id}`);
  const done = await events.next((e) => e.type === 'model.progress' && e.job.id === job.id && e.job.state === 'succeeded', 60_000);
  assert.equal(done.type, 'model.progress');
  const progress = events.messages.filter((e) => e.type === 'model.progress' && e.job.file === UNET).map((e) => (e as { job: ModelJob }).job);
  assert.ok(progress.length >= 1, 'progress while the UNet downloads');
  assert.ok(progress.every((p) => p.bytes_total === job.bytes_total && p.bytes_done <= p.bytes_total));
  await events.close();
  // Another client (or the panel after a reconnect) reads the job.
  const read = await api(d, 'GET', `/v1/models/pulls/${job.id}`);
  assert.equal(ModelJob.parse(read.json).state, 'succeeded');
  assert.equal(read.json.bytes_done, read.json.bytes_total);
  const list = await api(d, 'GET', '/v1/models/pulls');
  assert.deepEqual(list.json.jobs.map((j: ModelJob) => j.id), [job.id]);
});

test('cancel over HTTP; pulling the same model twice while active returns the same job', async (t) => {
  const d = await daemonWithPulls(t, undefined, 60_000);
  hub.dropOnce.set(UNET, 1000);
  const first = ModelPullResponse.parse((await api(d, 'POST', '/v1/models/pull', { id: REPO })).json);
  const twice = await api(d, 'POST', '/v1/models/pull', { id: REPO });
  assert.equal(twice.status, 200);
  assert.equal(twice.json.job.id, first.job.id);
  assert.equal(twice.json.created, false);
  const canceled = await api(d, 'POST', `/v1/models/pulls/${first.job.id}/cancel`);
  assert.equal(canceled.status, 200, canceled.text);
  assert.equal(ModelJob.parse(canceled.json).state, 'canceled');
  hub.dropOnce.delete(UNET);
});

test('too little free space is a 507 naming both sizes; bad requests are 400/404', async (t) => {
  const d = await daemonWithPulls(t, 4096);
  const full = await api(d, 'POST', '/v1/models/pull', { id: REPO });
  assert.equal(full.status, 507, full.text);
  const body = ErrorBody.parse(full.json);
  assert.equal(body.error.code, 'disk_full');
  assert.match(body.error.message, /needs [\d.]+ MB more in .*blobs, but only 0\.0 MB is free there/);
  const bad = await api(d, 'POST', '/v1/models/pull', { id: 'no-slash' });
  assert.equal(bad.status, 400);
  assert.equal(ErrorBody.parse(bad.json).error.field, 'id');
  const extra = await api(d, 'POST', '/v1/models/pull', { id: REPO, sneaky: 1 });
  assert.equal(extra.status, 400);
  const missing = await api(d, 'POST', '/v1/models/pull', { id: 'nobody/nothing' });
  assert.equal(missing.status, 404);
  assert.equal(ErrorBody.parse(missing.json).error.code, 'model_not_found');
  assert.equal((await api(d, 'GET', '/v1/models/pulls/not-a-uuid')).status, 400);
  const unauth = await api(d, 'POST', '/v1/models/pull', { id: REPO }, { Authorization: 'Bearer wrong' });
  assert.equal(unauth.status, 401);
});
