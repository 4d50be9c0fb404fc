// The real `tokenflow serve` (a child process) as the panel meets it on a first run: pairing
// with the code it prints on stderr, the health's free render space, and a model downloaded
// through it from the local fake hub, which then appears in /v1/models.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FakeHub, readModelFiles } from '../helpers/fake_hub.ts';
import { serveDaemon, until } from '../helpers/served_daemon.ts';

test('serve: pair with the printed code, download a model from the hub, see it listed', { timeout: 180_000 }, async (t) => {
  const hub = await FakeHub.start();
  t.after(() => hub.close());
  hub.addRepo('tiny/sd15', readModelFiles('test/fixtures/tiny-sd15'));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-firstrun-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  // daemonEnv copies process.env: the served daemon talks to the fake hub.
  const saved = process.env.HF_ENDPOINT;
  process.env.HF_ENDPOINT = hub.endpoint;
  t.after(() => (saved === undefined ? delete process.env.HF_ENDPOINT : (process.env.HF_ENDPOINT = saved)));
  const d = await serveDaemon(home);
  t.after(() => d.stop());

  const panel = { Origin: 'uxp://com.tokenflow.premiere', 'Content-Type': 'application/json' };
  const started = await fetch(`${d.url}/v1/pair`, { method: 'POST', headers: panel, body: '{}' });
  assert.equal(started.status, 201);
  const { pairing_id } = (await started.json()) as { pairing_id: string };
  await until(() => /PAIRING CODE for the TokenFlow panel: \d{3} \d{3}/.test(d.output()), 10_000, 'the code on the console');
  const code = /PAIRING CODE for the TokenFlow panel: (\d{3} \d{3})/.exec(d.output())![1]!;
  const granted = await fetch(`${d.url}/v1/pair/${pairing_id}/confirm`, { method: 'POST', headers: panel, body: JSON.stringify({ code }) });
  assert.equal(granted.status, 200);
  assert.equal(((await granted.json()) as { token: string }).token, fs.readFileSync(path.join(home, 'config', 'token'), 'utf8').trim());

  const health = await d.request('GET', '/v1/health');
  assert.ok(health.json.output_free_bytes > 0, 'free space of the render folder');

  const pull = await d.request('POST', '/v1/models/pull', { id: 'tiny/sd15', precision: 'fp32' });
  assert.equal(pull.status, 202, JSON.stringify(pull.json));
  await until(() => d.events.some((e) => e.type === 'model.progress' && e.job.state === 'succeeded'), 60_000, 'the download');
  assert.ok(d.events.some((e) => e.type === 'model.progress' && e.job.state === 'running' && e.job.bytes_done > 0));
  const models = await d.request('GET', '/v1/models');
  assert.ok(models.json.models.some((m: { id: string }) => m.id === 'tiny/sd15'), JSON.stringify(models.json));
});
