// The REST API and the event stream doing their job: health, submit → events → result,
// idempotency, 422 for bad media, cancel, delete, presets, models.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ErrorBody } from '../../shared/errors.ts';
import { HelloEvent, JobPreviewEvent, JobProgressEvent, type ServerEvent } from '../../shared/events.ts';
import { Health, ModelListResponse } from '../../shared/health.ts';
import { JobListResponse, JobRecord, JobSubmitResponse } from '../../shared/jobs.ts';
import { Preset, PresetListResponse } from '../../shared/presets.ts';
import { PublicHealth } from '../../shared/health.ts';
import { ffmpeg } from '../media/clips.ts';
import { releaseGate } from '../jobs/helpers.ts';
import { api, connectEvents, jobRequest, rawRequest, startTestDaemon, waitFor } from './helpers.ts';

const isState = (id: string, state: string) => (m: ServerEvent) => m.type === 'job.state' && m.job.id === id && m.job.state === state;

test('health: minimal without a token, full with it, 401 with a wrong one', async (t) => {
  const d = await startTestDaemon(t);
  const pub = await rawRequest(d.port, { path: '/v1/health', headers: { Host: `localhost:${d.port}` } });
  assert.equal(pub.status, 200);
  assert.deepEqual(PublicHealth.parse(pub.json), { service: 'tokenflow', api_version: 'v1', authenticated: false });

  const full = await api(d, 'GET', '/v1/health');
  assert.equal(full.status, 200);
  const health = Health.parse(full.json);
  assert.equal(health.version, '0.0.0-test');
  assert.equal(health.status, 'degraded'); // no execution provider loaded, no model
  assert.deepEqual(health.queue, { queued: 0, running: 0 });

  const wrong = await api(d, 'GET', '/v1/health', undefined, { Authorization: 'Bearer nope' });
  assert.equal(wrong.status, 401);
});

test('submit → hello, state, progress, preview events → succeeded with a render in the output folder', async (t) => {
  const d = await startTestDaemon(t, { pipeline: 'delay=20&steps=3' });
  const events = await connectEvents(d);
  const hello = HelloEvent.parse(await events.next((m) => m.type === 'hello'));
  assert.deepEqual(hello.jobs, []);
  assert.equal(hello.api_version, 'v1');

  const res = await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { codec: 'h264' }));
  assert.equal(res.status, 202, res.text);
  const { job, created } = JobSubmitResponse.parse(res.json);
  assert.equal(created, true);
  assert.ok(job.state === 'queued' || job.state === 'running', job.state);
  assert.equal(res.headers.location, `/v1/jobs/${job.id}`);

  await events.next(isState(job.id, 'queued'));
  await events.next(isState(job.id, 'running'));
  const progress = JobProgressEvent.parse(
    await events.next((m) => m.type === 'job.progress' && m.job_id === job.id && m.stage === 'edit' && m.done > 0),
  );
  assert.equal(progress.total, 3);
  assert.ok(progress.overall > 0 && progress.overall < 1);
  const preview = JobPreviewEvent.parse(await events.next((m) => m.type === 'job.preview' && m.job_id === job.id));
  assert.equal(preview.mime, 'image/png');
  assert.equal(Buffer.from(preview.data, 'base64').subarray(1, 4).toString('latin1'), 'PNG');
  const done = await events.next(isState(job.id, 'succeeded'), 30_000);
  assert.equal(done.type, 'job.state');

  const got = await api(d, 'GET', `/v1/jobs/${job.id}`);
  const record = JobRecord.parse(got.json);
  assert.equal(record.state, 'succeeded');
  assert.equal(record.progress.overall, 1);
  const output = record.result?.output_path;
  assert.ok(output, 'a render path');
  assert.equal(path.dirname(output), d.folders.outputDir);
  assert.ok(fs.statSync(output).size > 0);
  assert.equal(record.result?.frame_count, 5); // 0.5 s at 10 fps

  // The order of a job's states on the wire is the state machine's.
  const states = events.messages.filter((m) => m.type === 'job.state' && m.job.id === job.id).map((m) => (m.type === 'job.state' ? m.job.state : ''));
  assert.deepEqual([...new Set(states)], ['queued', 'running', 'succeeded']);
  await events.close();
});

test('idempotency: same key and body → 200 with the same job; same key, other body → 422', async (t) => {
  const d = await startTestDaemon(t, { pipeline: 'delay=50&steps=3' });
  const body = jobRequest(d.clip, { idempotency_key: 'panel-1234' });
  const first = await api(d, 'POST', '/v1/jobs', body);
  assert.equal(first.status, 202);
  const again = await api(d, 'POST', '/v1/jobs', body);
  assert.equal(again.status, 200);
  const replay = JobSubmitResponse.parse(again.json);
  assert.equal(replay.created, false);
  assert.equal(replay.job.id, first.json.job.id);
  const conflict = await api(d, 'POST', '/v1/jobs', { ...body, prompt: 'something else' });
  assert.equal(conflict.status, 422);
  assert.equal(ErrorBody.parse(conflict.json).error.code, 'idempotency_conflict');
  assert.equal(conflict.json.error.field, 'idempotency_key');
  assert.equal(JobListResponse.parse((await api(d, 'GET', '/v1/jobs')).json).jobs.length, 1);
});

test('422 when the source is missing, a folder, or not a video; nothing is queued', async (t) => {
  const d = await startTestDaemon(t);
  const garbage = path.join(d.home, 'garbage.mov');
  fs.writeFileSync(garbage, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
  const audio = path.join(d.home, 'tone.wav');
  await ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', audio]);
  const cases: Array<[string, RegExp]> = [
    [path.join(d.home, 'missing.mov'), /missing\.mov/],
    [d.home, /director|folder|not a (regular )?file/i],
    [garbage, /garbage\.mov/],
    [audio, /tone\.wav/],
  ];
  for (const [source, message] of cases) {
    const res = await api(d, 'POST', '/v1/jobs', jobRequest(source));
    assert.equal(res.status, 422, `${source}: ${res.text}`);
    const body = ErrorBody.parse(res.json);
    assert.equal(body.error.code, 'media_invalid');
    assert.equal(body.error.field, 'source_path');
    assert.match(body.error.message, message);
  }
  const late = await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { range: { start_seconds: 5, end_seconds: 6 } }));
  assert.equal(late.status, 422, late.text);
  assert.equal(late.json.error.field, 'range');
  assert.deepEqual((await api(d, 'GET', '/v1/jobs')).json, { jobs: [] });
});

test('cancel a running job, then delete it (with its files); deleting an active job is a 409', async (t) => {
  // The second invert step never ends on its own and sees the abort only once the test opens the
  // gate: the cancel answers without waiting for the job to stop, and the job ends by the abort.
  const gate = releaseGate(t);
  const d = await startTestDaemon(t, { pipeline: `delay=1&steps=2&hold=invert&release=${encodeURIComponent(gate.file)}` });
  const events = await connectEvents(d);
  const { job } = (await api(d, 'POST', '/v1/jobs', jobRequest(d.clip))).json;
  await events.next((m) => m.type === 'job.progress' && m.job_id === job.id && m.stage === 'invert', 30_000);

  const busyDelete = await api(d, 'DELETE', `/v1/jobs/${job.id}`);
  assert.equal(busyDelete.status, 409);
  assert.equal(busyDelete.json.error.code, 'conflict');

  const canceled = await api(d, 'POST', `/v1/jobs/${job.id}/cancel`);
  assert.equal(canceled.status, 200, canceled.text);
  assert.equal(JobRecord.parse(canceled.json).state, 'running', 'answered while the job is still held');
  gate.open();
  await events.next(isState(job.id, 'canceled'));

  const again = await api(d, 'POST', `/v1/jobs/${job.id}/cancel`);
  assert.equal(again.status, 200);
  assert.equal(again.json.state, 'canceled');

  const del = await api(d, 'DELETE', `/v1/jobs/${job.id}?files=true`);
  assert.equal(del.status, 204);
  assert.equal(del.text, '');
  await events.next((m) => m.type === 'job.deleted' && m.job_id === job.id);
  assert.equal((await api(d, 'GET', `/v1/jobs/${job.id}`)).status, 404);
  assert.equal((await api(d, 'DELETE', `/v1/jobs/${job.id}`)).status, 404);
  assert.equal((await api(d, 'POST', `/v1/jobs/${job.id}/cancel`)).status, 404);
  await events.close();
});

test('delete ?files=true removes the render; without it the render stays', async (t) => {
  const d = await startTestDaemon(t);
  const submit = async () => {
    const { job } = (await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { codec: 'h264', prompt: `p${Math.random()}` }))).json;
    await waitFor(() => d.jobs.get(job.id)?.state === 'succeeded', 30_000, 'job to succeed');
    return d.jobs.get(job.id)!.result!.output_path!;
  };
  const kept = await submit();
  const removed = await submit();
  const keptId = d.jobs.list().find((j) => j.result?.output_path === kept)!.id;
  const removedId = d.jobs.list().find((j) => j.result?.output_path === removed)!.id;
  assert.equal((await api(d, 'DELETE', `/v1/jobs/${keptId}`)).status, 204);
  assert.equal((await api(d, 'DELETE', `/v1/jobs/${removedId}?files=true`)).status, 204);
  assert.ok(fs.existsSync(kept));
  assert.ok(!fs.existsSync(removed));
});

test('presets: list built-ins, create, replace, delete; built-ins are protected', async (t) => {
  const d = await startTestDaemon(t);
  const list = PresetListResponse.parse((await api(d, 'GET', '/v1/presets')).json);
  assert.ok(list.presets.filter((p) => p.builtin).length >= 8);

  const body = { description: 'Blue hour', category: 'time_of_day', prompt: '{prompt}, at blue hour', parameters: { guidance_scale: 9 } };
  const created = await api(d, 'PUT', '/v1/presets/blue-hour', body);
  assert.equal(created.status, 201, created.text);
  const preset = Preset.parse(created.json);
  assert.equal(preset.name, 'blue-hour');
  assert.equal(preset.builtin, false);

  const replaced = await api(d, 'PUT', '/v1/presets/blue-hour', { ...body, description: 'Dusk' });
  assert.equal(replaced.status, 200);
  assert.equal(replaced.json.description, 'Dusk');
  const listed = PresetListResponse.parse((await api(d, 'GET', '/v1/presets')).json).presets.find((p) => p.name === 'blue-hour');
  assert.equal(listed?.description, 'Dusk');

  const noPlaceholder = await api(d, 'PUT', '/v1/presets/bad', { description: 'x', prompt: 'no placeholder' });
  assert.equal(noPlaceholder.status, 400);
  assert.equal(noPlaceholder.json.error.field, 'prompt');

  const builtin = await api(d, 'PUT', '/v1/presets/watercolor', body);
  assert.equal(builtin.status, 409);
  assert.equal((await api(d, 'DELETE', '/v1/presets/watercolor')).status, 409);

  assert.equal((await api(d, 'DELETE', '/v1/presets/blue-hour')).status, 204);
  assert.equal((await api(d, 'DELETE', '/v1/presets/blue-hour')).status, 404);
  assert.ok(!PresetListResponse.parse((await api(d, 'GET', '/v1/presets')).json).presets.some((p) => p.name === 'blue-hour'));

  const unknownPreset = await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { preset: 'no-such-preset' }));
  assert.equal(unknownPreset.status, 400);
  assert.equal(unknownPreset.json.error.field, 'preset');
});

test('models: the catalog the daemon was given, in the shared schema', async (t) => {
  const models = [{ id: 'org/tiny-sd', path: '/models/tiny', is_default: true, size_bytes: null }];
  const d = await startTestDaemon(t, { listModels: async () => models });
  const res = await api(d, 'GET', '/v1/models');
  assert.equal(res.status, 200);
  assert.deepEqual(ModelListResponse.parse(res.json).models, models);
  const health = Health.parse((await api(d, 'GET', '/v1/health')).json);
  assert.deepEqual(health.models, ['org/tiny-sd']);
  assert.equal(health.default_model, 'org/tiny-sd');
});

test('a reconnecting client first gets the snapshot of every active job', async (t) => {
  const d = await startTestDaemon(t, { pipeline: 'delay=100&steps=100' });
  const first = (await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { prompt: 'one' }))).json.job;
  const second = (await api(d, 'POST', '/v1/jobs', jobRequest(d.clip, { prompt: 'two' }))).json.job;
  await waitFor(() => d.jobs.get(first.id)?.state === 'running', 30_000, 'first job to run');

  for (let round = 0; round < 2; round++) {
    const client = await connectEvents(d);
    const hello = HelloEvent.parse(await client.next((m) => m.type === 'hello'));
    assert.equal(client.messages[0].type, 'hello', 'hello is the first message');
    assert.deepEqual(
      hello.jobs.map((j) => [j.id, j.state]),
      [
        [first.id, 'running'],
        [second.id, 'queued'],
      ],
    );
    await client.close();
  }
});

test('a client that stops answering pings is dropped', async (t) => {
  const d = await startTestDaemon(t, { heartbeatMs: 100 });
  const live = await connectEvents(d);
  const dead = await connectEvents(d);
  await waitFor(() => d.daemon.events.clientCount === 2, 2000, 'two clients');
  // A paused socket never reads the ping, so it never answers with a pong.
  (dead.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  await waitFor(() => d.daemon.events.clientCount === 1, 3000, 'the dead client to be dropped');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(live.ws.readyState, live.ws.OPEN, 'the answering client stays');
  await live.close();
  dead.ws.terminate();
});

test('messages from a client are answered with an error event, not a crash', async (t) => {
  const d = await startTestDaemon(t);
  const client = await connectEvents(d);
  await client.next((m) => m.type === 'hello');
  client.ws.send('{"type":"subscribe"}');
  const err = await client.next((m) => m.type === 'error');
  assert.equal(err.type === 'error' && err.code, 'bad_request');
  // Bigger than the 4 KiB message limit: the server closes with 1009.
  const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
  client.ws.send('x'.repeat(10_000));
  assert.equal(await closed, 1009);
  assert.equal((await api(d, 'GET', '/v1/health')).status, 200);
});

test('stopping the daemon closes event clients with 1001 (going away)', async (t) => {
  const d = await startTestDaemon(t);
  const client = await connectEvents(d);
  await client.next((m) => m.type === 'hello');
  const closed = new Promise<number>((resolve) => client.ws.once('close', (code) => resolve(code)));
  await d.daemon.close();
  assert.equal(await closed, 1001);
  assert.equal(d.daemon.events.clientCount, 0);
});
