// The panel model end to end without a browser: fake Premiere, real daemon (pipeline double).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { DEFAULT_NEGATIVE_PROMPT, JobRequest } from '../../../shared/jobs.ts';
import { Preset, resolveJobSettings } from '../../../shared/presets.ts';
import { REFERENCE_PARAMETERS } from '../../../shared/parameters.ts';
import { PanelModel, buildRequest, renderTicks } from '../../../plugin/src/app/model.ts';
import { applyPreset, defaultSettings, SETTINGS_KEY } from '../../../plugin/src/app/settings.ts';
import { DaemonConnection, type WebSocketLike } from '../../../plugin/src/daemon/connection.ts';
import { SecureTokenStore } from '../../../plugin/src/host/storage.ts';
import { PremiereAdapter } from '../../../plugin/src/premiere/adapter.ts';
import type { Ppro } from '../../../plugin/src/premiere/ppro.ts';
import { CLIP_FPS, startPanelDaemon, type PanelDaemon } from '../daemon_harness.ts';
import { createFakePremiere, TPS } from '../fake_premierepro.ts';
import { FakeSecureStorage, MemoryKeyValueStore } from '../fake_uxp.ts';

const TPF = TPS / BigInt(CLIP_FPS);

async function until(what: string, predicate: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(t: { after(fn: () => unknown): void }, d: PanelDaemon, options: { backoffMs?: number[] } = {}) {
  const fake = createFakePremiere();
  fake.addMedia({ path: d.clip, fps: CLIP_FPS, frames: 50 });
  fake.resolveMedia = (path) => (path.startsWith(d.outputDir) ? { fps: CLIP_FPS, frames: 20 } : undefined);
  const seq = fake.addSequence('Edit', TPF, 2, 1);
  const source = fake.addTrackItem(seq, { track: 0, item: fake.addClip(d.clip), startFrame: 75, inFrame: 10, frames: 20 });
  const secure = new FakeSecureStorage();
  await secure.setItem('tokenflow.daemon-token', d.token);
  const sockets: WebSocket[] = [];
  const connection = new DaemonConnection({
    baseUrl: d.url,
    fetch: (url, init) => fetch(url, init),
    openSocket: (url, protocols) => {
      const ws = new WebSocket(url, protocols);
      sockets.push(ws);
      return ws as unknown as WebSocketLike;
    },
    secrets: new SecureTokenStore(secure),
    backoffMs: options.backoffMs ?? [20, 40],
  });
  const store = new MemoryKeyValueStore();
  const model = new PanelModel({ premiere: new PremiereAdapter(fake.ppro as unknown as Ppro, { recheckMs: 5 }), connection, store, selectionDebounceMs: 1 });
  t.after(() => model.stop());
  model.start();
  await until('connected', () => model.connection.kind === 'connected' && model.presets.length > 0);
  return { fake, seq, source, model, store, connection, sockets };
}

test('request building: the clip range in ticks, the form, video-only output', () => {
  const clip = { sequenceGuid: 'g', sequenceName: 's', trackIndex: 0, startTicks: '0', endTicks: '10', mediaPath: '/m.mov', inTicks: '5', outTicks: '15', name: 'm' };
  const settings = { port: 1, prompt: 'a fox', sourcePrompt: '', negativePrompt: 'blur', preset: 'anime', parameters: { ...REFERENCE_PARAMETERS, steps: 20 }, model: '', placement: 'above' as const, advancedOpen: false };
  const request = buildRequest(clip, settings, true, 'k1');
  assert.deepEqual(request.range, { start_ticks: '5', end_ticks: '15' });
  assert.equal(request.preset, 'anime');
  assert.equal(request.model, undefined);
  assert.equal(request.output_kind, 'video');
  assert.equal(request.preview_only, true);
  assert.equal(request.parameters?.steps, 20);
});

test('a preset is applied once, by the daemon: the request carries only what the editor changed on the form', () => {
  const clip = { sequenceGuid: 'g', sequenceName: 's', trackIndex: 0, startTicks: '0', endTicks: '10', mediaPath: '/m.mov', inTicks: '5', outTicks: '15', name: 'm' };
  const preset = Preset.parse({ name: 'teal', description: 'Teal', prompt: '{prompt}, teal grade', negative_prompt: 'orange', parameters: { guidance_scale: 9, seed: 7 }, builtin: false });
  const shown = applyPreset({ ...defaultSettings(), prompt: 'a fox' }, preset);
  assert.equal(shown.negativePrompt, 'orange');
  assert.deepEqual(shown.parameters, { ...REFERENCE_PARAMETERS, guidance_scale: 9, seed: 7 });

  const untouched = buildRequest(clip, shown, false, 'k1', preset);
  assert.equal(untouched.negative_prompt, undefined);
  assert.deepEqual(untouched.parameters, {});
  const edited = { ...shown, negativePrompt: 'orange, blur', parameters: { ...shown.parameters, seed: 8, steps: 20 } };
  const request = buildRequest(clip, edited, false, 'k2', preset);
  assert.equal(request.negative_prompt, 'orange, blur');
  assert.deepEqual(request.parameters, { seed: 8, steps: 20 });

  // What the daemon runs is what the form showed.
  for (const [form, req] of [[shown, untouched], [edited, request]] as const) {
    const settings = resolveJobSettings(JobRequest.parse(req), preset);
    assert.equal(settings.prompt, 'a fox, teal grade');
    assert.equal(settings.negative_prompt, form.negativePrompt);
    assert.deepEqual(settings.parameters, form.parameters);
  }
});

test('render: the job runs on the daemon and the result lands above the clip', async (t) => {
  const d = await startPanelDaemon(t);
  const { fake, seq, source, model, store } = await setup(t, d);
  fake.select(seq, source);
  await until('clip read', () => model.clip?.ok === true);
  assert.equal(model.blockedReason(), 'Describe the edit in the prompt.');
  model.updateSettings({ prompt: 'a red fox in the snow' });
  model.choosePreset('watercolor');
  assert.match(model.settings.negativePrompt, /photorealistic/);
  const job = await model.submit(false);
  assert.ok(job, JSON.stringify(model.notice));
  await until('placed', () => model.job(job.id)?.placement?.state === 'placed');
  const view = model.job(job.id)!;
  assert.equal(view.record.state, 'succeeded');
  assert.equal(view.record.settings.prompt, 'a watercolor painting of a red fox in the snow, soft washes, visible paper texture');
  assert.equal(view.record.settings.start_ticks, (TPF * 10n).toString());
  assert.equal(renderTicks(view.record), TPF * 20n);
  assert.ok(view.previews.length > 0, 'keyframe previews streamed');
  assert.match(view.placement!.message, /Placed on V2 above the clip/);
  const timeline = fake.timeline(seq);
  assert.equal(timeline[1].length, 1);
  assert.equal(timeline[1][0].path, view.record.result!.output_path);
  assert.equal(timeline[1][0].start, (TPF * 75n).toString());
  assert.equal(timeline[1][0].end, (TPF * 95n).toString());
  assert.deepEqual(fake.undoLabels(), ['Create bin TokenFlow renders', 'TokenFlow: place render above clip']);
  // Settings and the last prompt persist.
  assert.equal(JSON.parse(store.getItem(SETTINGS_KEY)!).prompt, 'a red fox in the snow');
});

test('cancel a running job; re-run a finished one with a new prompt', async (t) => {
  const d = await startPanelDaemon(t, { delayMs: 40, steps: 5 });
  const { fake, seq, source, model } = await setup(t, d);
  fake.select(seq, source);
  await until('clip read', () => model.clip?.ok === true);
  model.updateSettings({ prompt: 'first' });
  const first = await model.submit(false);
  model.updateSettings({ prompt: 'second' });
  const second = await model.submit(false);
  assert.ok(first && second);
  await until('first running', () => model.job(first.id)?.record.state === 'running');
  assert.equal(model.job(second.id)?.record.state, 'queued');
  await model.cancel(first.id);
  await until('first canceled', () => model.job(first.id)?.record.state === 'canceled');
  await until('second placed', () => model.job(second.id)?.placement?.state === 'placed', 30_000);
  assert.equal(model.job(first.id)?.placement, undefined, 'a canceled job is never placed');
  const third = await model.rerun(second.id, 'third', false);
  assert.ok(third);
  assert.equal(third.request.prompt, 'third');
  assert.deepEqual(third.request.range, model.job(second.id)!.record.request.range);
  await until('third placed', () => model.job(third.id)?.placement?.state === 'placed', 30_000);
  assert.equal(fake.timeline(seq)[1].length + fake.timeline(seq).slice(2).flat().length, 2, 'two renders placed, none for the canceled job');
  assert.deepEqual(model.jobs().map((j) => j.record.request.prompt), ['third', 'second', 'first']);
});

test('presets: built-ins listed, save the form as a user preset, delete it', async (t) => {
  const d = await startPanelDaemon(t);
  const { model } = await setup(t, d);
  assert.ok(model.presets.some((p) => p.name === 'watercolor' && p.builtin));
  model.updateSettings({ negativePrompt: 'text, watermark', parameters: { ...model.settings.parameters, steps: 12 } });
  assert.equal(await model.savePreset('my-look', 'Twelve steps', 'a film still of {prompt}'), true);
  const saved = model.presets.find((p) => p.name === 'my-look');
  assert.ok(saved && !saved.builtin);
  assert.equal(saved.parameters?.steps, 12);
  assert.equal(model.settings.preset, 'my-look');
  assert.equal(await model.savePreset('bad', 'x', 'no placeholder'), false);
  assert.match(model.notice?.text ?? '', /\{prompt\}/);
  await model.deletePreset('my-look');
  assert.ok(!model.presets.some((p) => p.name === 'my-look'));
  assert.equal(model.settings.preset, '');
  assert.equal(model.settings.negativePrompt, DEFAULT_NEGATIVE_PROMPT);
});

test('a job that finishes while the connection is down is placed after the resync', async (t) => {
  const d = await startPanelDaemon(t, { delayMs: 30, steps: 3 });
  const { fake, seq, source, model, connection, sockets } = await setup(t, d, { backoffMs: [60_000] });
  fake.select(seq, source);
  await until('clip read', () => model.clip?.ok === true);
  model.updateSettings({ prompt: 'offline finish' });
  const job = await model.submit(false);
  assert.ok(job);
  await until('running', () => model.job(job.id)?.record.state === 'running');
  sockets.at(-1)!.terminate();
  await until('reconnecting', () => model.connection.kind === 'reconnecting');
  await until('finished on the daemon', () => d.jobs.get(job.id)?.state === 'succeeded', 30_000);
  assert.equal(model.job(job.id)?.record.state, 'running', 'the panel has not heard yet');
  connection.retryNow();
  await until('placed after resync', () => model.job(job.id)?.placement?.state === 'placed');
  assert.equal(fake.timeline(seq)[1].length, 1);
});

test('the daemon restarts mid-job: the panel says so, the job resumes and is placed', async (t) => {
  // Long enough (20 steps) that a busy machine does not finish it before the restart.
  const d = await startPanelDaemon(t, { delayMs: 60, steps: 20 });
  const { fake, seq, source, model } = await setup(t, d, { backoffMs: [30] });
  fake.select(seq, source);
  await until('clip read', () => model.clip?.ok === true);
  model.updateSettings({ prompt: 'survives a restart' });
  const job = await model.submit(false);
  assert.ok(job);
  await until('running', () => model.job(job.id)?.record.state === 'running');
  await d.restart();
  await until('notice', () => /daemon restarted while rendering: 1 job will resume/.test(model.notice?.text ?? ''), 15_000);
  await until('placed', () => model.job(job.id)?.placement?.state === 'placed', 30_000);
  assert.ok(model.job(job.id)!.record.attempts >= 2);
});

test('a panel opened while a job runs shows its latest keyframe preview at once, not only the next one', async (t) => {
  // The job stops after its second edit step: no preview comes after those two.
  const d = await startPanelDaemon(t, { hold: 'held' });
  const sent: number[] = [];
  d.jobs.on('job.preview', (e) => sent.push(e.index));
  const { job } = await d.jobs.submit(JobRequest.parse({ source_path: d.clip, range: { start_seconds: 0, end_seconds: 0.8 }, prompt: 'held fox' }));
  await until('two previews', () => sent.length === 2);
  const { model } = await setup(t, d);
  await until('the preview', () => (model.job(job.id)?.previews.length ?? 0) > 0);
  assert.deepEqual(model.job(job.id)!.previews.map((p) => p.index), [sent[1]]);
  await d.jobs.cancel(job.id);
});
