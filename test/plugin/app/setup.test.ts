// The first-run checklist's model against a real daemon downloading from the fake hub: the
// states before connecting and after, a download canceled mid-way (a dropped connection
// holds it in its retry wait), then resumed to the end, after which the model check passes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { progressLine, RECOMMENDED_MODEL, SetupModel } from '../../../plugin/src/app/setup.ts';
import { DaemonConnection, type WebSocketLike } from '../../../plugin/src/daemon/connection.ts';
import { SecureTokenStore } from '../../../plugin/src/host/storage.ts';
import { FakeHub, readModelFiles } from '../../helpers/fake_hub.ts';
import { startPanelDaemon } from '../daemon_harness.ts';
import { FakeSecureStorage } from '../fake_uxp.ts';

const UNET = 'unet/diffusion_pytorch_model.safetensors';
let hub: FakeHub;
before(async () => {
  hub = await FakeHub.start();
  hub.addRepo(RECOMMENDED_MODEL.id, readModelFiles('test/fixtures/tiny-sd15'));
});
after(() => hub.close());

async function until(what: string, predicate: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('progress line: bytes, rate and time left', () => {
  const job = { bytes_done: 1_200_000_000, bytes_total: 2_600_000_000, bytes_per_second: 48e6, eta_s: 29.2 } as Parameters<typeof progressLine>[0];
  assert.equal(progressLine(job), '1.2 GB of 2.6 GB · 48.0 MB/s · 29 s left');
  assert.equal(progressLine({ ...job, bytes_per_second: 0, eta_s: null }), '1.2 GB of 2.6 GB');
});

test('checklist: not running, then connected without a model; download, cancel, resume, done', async (t) => {
  const d = await startPanelDaemon(t, { hubEndpoint: hub.endpoint, retryDelayMs: 60_000 });
  const secure = new FakeSecureStorage();
  const connection = new DaemonConnection({
    baseUrl: d.url,
    fetch: (url, init) => fetch(url, init),
    openSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as WebSocketLike,
    secrets: new SecureTokenStore(secure),
    backoffMs: [20],
  });
  const setup = new SetupModel(connection);
  t.after(() => connection.stop());
  const ids = () => setup.checks(connection.status).map((c) => `${c.id}:${c.state}`);
  assert.deepEqual(ids(), ['companion:todo', 'paired:todo'], 'connecting: nothing known yet');

  connection.start();
  await until('needs_token', () => connection.status.kind === 'needs_token');
  assert.deepEqual(ids(), ['companion:ok', 'paired:todo']);
  await connection.submitToken(d.token);
  await until('model check', () => ids().length === 5 && setup.models.length > 0);
  assert.deepEqual(ids(), ['companion:ok', 'paired:ok', 'device:warn', 'model:todo', 'disk:ok']);

  hub.dropOnce.set(UNET, 1_000_000);
  await setup.download();
  await until('busy with bytes', () => setup.pull?.state === 'running' && setup.pull.file === UNET && setup.pull.bytes_done > 0);
  assert.equal(setup.checks(connection.status)[3]!.state, 'busy');
  await new Promise((r) => setTimeout(r, 300)); // the drop happens; the retry waits 30 s (the back-off's cap, hub_client.ts)
  await setup.cancel();
  assert.equal(setup.pull?.state, 'canceled');
  const canceled = setup.checks(connection.status)[3]!;
  assert.equal(canceled.state, 'todo');
  assert.match(canceled.detail, /canceled; it resumes where it stopped/);

  await setup.download();
  await until('downloaded and listed', () => setup.hasRealModel, 60_000);
  assert.deepEqual(ids(), ['companion:ok', 'paired:ok', 'device:warn', 'model:ok', 'disk:ok']);
  const resumed = hub.fileRequests(UNET).map((r) => r.range).filter(Boolean);
  assert.ok(resumed.some((r) => /^bytes=[1-9]\d*-$/.test(r!)), `the second download resumed the partial UNet (${JSON.stringify(resumed)})`);
});

test('device line: the GPU by name; low disk space is a todo naming the free space', () => {
  const noConnection = { subscribe: () => () => {} } as unknown as DaemonConnection;
  const setup = new SetupModel(noConnection);
  setup.models = [{ id: 'stabilityai/stable-diffusion-2-1-base', path: '/m', is_default: true, size_bytes: null }];
  const health = {
    status: 'ok' as const, version: '0.1.0', api_version: 'v1' as const, device: 'cuda', device_name: 'NVIDIA H200',
    models: ['stabilityai/stable-diffusion-2-1-base'], default_model: 'stabilityai/stable-diffusion-2-1-base', queue: { queued: 0, running: 0 }, output_free_bytes: 1.5e9,
  };
  const checks = setup.checks({ kind: 'connected', health });
  assert.deepEqual(checks.map((c) => [c.id, c.state, c.title]), [
    ['companion', 'ok', 'TokenFlow companion found'],
    ['paired', 'ok', 'Paired'],
    ['device', 'ok', 'GPU: NVIDIA H200 (cuda)'],
    ['model', 'ok', 'Model: stabilityai/stable-diffusion-2-1-base'],
    ['disk', 'todo', 'Only 1.5 GB free for renders'],
  ]);
});
