import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  API_VERSION,
  BUILTIN_PRESETS,
  DEFAULT_NEGATIVE_PROMPT,
  ErrorBody,
  Health,
  JobParameters,
  JobRecord,
  JobRequest,
  normalizeRange,
  Preset,
  PresetBody,
  REFERENCE_PARAMETERS,
  resolveJobSettings,
  ServerEvent,
  type JobRequestInput,
  type ServerEvent as ServerEventT,
} from '../../shared/index.ts';

const base: JobRequestInput = {
  source_path: '/media/clip.mov',
  range: { start_ticks: '0', end_ticks: '254016000000' },
  prompt: 'a dog on a beach',
};

function issues(input: unknown) {
  const r = JobRequest.safeParse(input);
  assert.equal(r.success, false, 'expected the request to be rejected');
  return r.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message, keys: 'keys' in i ? i.keys : undefined }));
}

test('API version is v1', () => {
  assert.equal(API_VERSION, 'v1');
});

test('request defaults are applied; settings resolve to the reference defaults', () => {
  const req = JobRequest.parse(base);
  assert.equal(req.output_kind, 'video');
  assert.equal(req.codec, 'prores');
  assert.equal(req.preview_only, false);
  assert.deepEqual(req.parameters, {});
  const s = resolveJobSettings(req, undefined);
  assert.deepEqual(s.parameters, {
    steps: 50, guidance_scale: 7.5, pnp_attn_t: 0.5, pnp_f_t: 0.8, batch_size: 8, seed: 1, short_side: 512, inversion_steps: 500,
  });
  assert.deepEqual(s.parameters, { ...REFERENCE_PARAMETERS });
  assert.equal(s.negative_prompt, DEFAULT_NEGATIVE_PROMPT);
  assert.equal(s.source_prompt, '');
  assert.equal(s.prompt, 'a dog on a beach');
  assert.equal(s.model, null);
  assert.equal(s.start_ticks, '0');
  assert.equal(s.end_ticks, '254016000000');
});

test('request values beat preset values, which beat defaults', () => {
  const preset = Preset.parse({
    name: 'mine', description: '', prompt: '{prompt}, in snow', negative_prompt: 'summer',
    parameters: { steps: 30, guidance_scale: 9 }, builtin: false,
  });
  const req = JobRequest.parse({ ...base, preset: 'mine', parameters: { steps: 20 } });
  const s = resolveJobSettings(req, preset);
  assert.equal(s.prompt, 'a dog on a beach, in snow');
  assert.equal(s.negative_prompt, 'summer');
  assert.equal(s.parameters.steps, 20);
  assert.equal(s.parameters.guidance_scale, 9);
  assert.equal(s.parameters.seed, 1);
  assert.equal(s.preset, 'mine');
  assert.throws(() => resolveJobSettings(req, undefined), /preset/);
});

test('parameter bounds are enforced with messages naming the parameter', () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ steps: 0 }, 'parameters.steps', /steps must be a whole number from 1 to 1000/],
    [{ steps: 1001 }, 'parameters.steps', /1 to 1000/],
    [{ steps: 2.5 }, 'parameters.steps', /whole number/],
    [{ guidance_scale: -1 }, 'parameters.guidance_scale', /guidance_scale/],
    [{ pnp_attn_t: 1.5 }, 'parameters.pnp_attn_t', /0 to 1/],
    [{ pnp_f_t: -0.1 }, 'parameters.pnp_f_t', /pnp_f_t/],
    [{ batch_size: 0 }, 'parameters.batch_size', /batch_size/],
    [{ seed: -1 }, 'parameters.seed', /seed/],
    [{ short_side: 500 }, 'parameters.short_side', /multiple of 8/],
    [{ short_side: 56 }, 'parameters.short_side', /64 to 2048/],
    [{ short_side: 2056 }, 'parameters.short_side', /64 to 2048/],
    [{ steps: '50' }, 'parameters.steps', /steps/],
  ];
  for (const [parameters, path, message] of cases) {
    const found = issues({ ...base, parameters });
    assert.equal(found[0].path, path, JSON.stringify(parameters));
    assert.match(found[0].message, message, JSON.stringify(parameters));
  }
  assert.equal(JobRequest.parse({ ...base, parameters: { short_side: 64, steps: 1000, batch_size: 64 } }).parameters.short_side, 64);
});

test('unknown fields are rejected and named, at every level', () => {
  const top = issues({ ...base, promt: 'typo' });
  assert.equal(top[0].path, '');
  assert.deepEqual(top[0].keys, ['promt']);
  assert.match(top[0].message, /promt/);
  const nested = issues({ ...base, parameters: { stepz: 3 } });
  assert.equal(nested[0].path, 'parameters');
  assert.deepEqual(nested[0].keys, ['stepz']);
  const inRange = issues({ ...base, range: { start_ticks: '0', end_ticks: '1', fps: 30 } });
  assert.equal(inRange[0].path, 'range');
  assert.deepEqual(inRange[0].keys, ['fps']);
});

test('other request fields are validated', () => {
  assert.match(issues({ ...base, source_path: 'clip.mov' })[0].message, /absolute/);
  assert.equal(issues({ ...base, source_path: 'clip.mov' })[0].path, 'source_path');
  assert.ok(JobRequest.safeParse({ ...base, source_path: 'C:\\Users\\me\\clip.mp4' }).success);
  assert.ok(JobRequest.safeParse({ ...base, source_path: '\\\\nas\\share\\clip.mp4' }).success);
  assert.equal(issues({ ...base, prompt: '   ' })[0].path, 'prompt');
  assert.equal(issues({ ...base, output_kind: 'audio' })[0].path, 'output_kind');
  assert.equal(issues({ ...base, codec: 'vp9' })[0].path, 'codec');
  assert.equal(issues({ ...base, model: '../etc' })[0].path, 'model');
  assert.ok(JobRequest.safeParse({ ...base, model: 'stabilityai/stable-diffusion-2-1-base' }).success);
  assert.equal(issues({ ...base, preset: '../x' })[0].path, 'preset');
  assert.equal(issues({ ...base, idempotency_key: '' })[0].path, 'idempotency_key');
  assert.equal(issues({ ...base, idempotency_key: 'a'.repeat(129) })[0].path, 'idempotency_key');
  assert.equal(issues({ ...base, idempotency_key: 'has space' })[0].path, 'idempotency_key');
  assert.ok(JobRequest.safeParse({ ...base, idempotency_key: 'a'.repeat(128) }).success);
  assert.ok(JobRequest.safeParse({ ...base, idempotency_key: '3f1c-9a:ok_.' }).success);
});

test('range: ticks or seconds, exactly one form, end after start', () => {
  const secs = JobRequest.parse({ ...base, range: { start_seconds: 1.1, end_seconds: 2 } });
  assert.deepEqual(normalizeRange(secs.range), { start_ticks: '279417600000', end_ticks: '508032000000' });
  const ticks = JobRequest.parse(base);
  assert.deepEqual(normalizeRange(ticks.range), { start_ticks: '0', end_ticks: '254016000000' });
  // Beyond 2^53: exact in ticks.
  const big = JobRequest.parse({ ...base, range: { start_ticks: '9007199254740993', end_ticks: '9007199254740995' } });
  assert.equal(normalizeRange(big.range).start_ticks, '9007199254740993');

  assert.match(issues({ ...base, range: { start_ticks: '0', end_seconds: 1 } })[0].message, /not both/);
  assert.match(issues({ ...base, range: {} })[0].message, /start_ticks and end_ticks/);
  const missing = issues({ ...base, range: { start_seconds: 1 } });
  assert.equal(missing[0].path, 'range.end_seconds');
  const backwards = issues({ ...base, range: { start_ticks: '10', end_ticks: '10' } });
  assert.equal(backwards[0].path, 'range.end_ticks');
  assert.match(backwards[0].message, /after start_ticks/);
  for (const bad of ['-1', '1.5', '1e9', ' 1', '']) {
    assert.equal(issues({ ...base, range: { start_ticks: bad, end_ticks: '99' } })[0].path, 'range.start_ticks', bad);
  }
  assert.equal(issues({ ...base, range: { start_ticks: 0, end_ticks: '99' } })[0].path, 'range.start_ticks');
  assert.equal(issues({ ...base, range: { start_seconds: -1, end_seconds: 1 } })[0].path, 'range.start_seconds');
});

test('seconds normalise to exact ticks', () => {
  const cases: [number, string][] = [[0, '0'], [0.1, '25401600000'], [1001 / 30000, '8475667200'], [1e-7, '25402'], [3600.123456, '914488959799296']];
  for (const [seconds, ticks] of cases) {
    const r = JobRequest.parse({ ...base, range: { start_seconds: seconds, end_seconds: 86400 } });
    assert.equal(normalizeRange(r.range).start_ticks, ticks, String(seconds));
  }
});

const now = new Date('2026-01-02T03:04:05.000Z').toISOString();
const JOB_ID = '0b6f2f36-7f0c-4d47-9b7c-6f8d0d8f1a2b';
function record(): unknown {
  const request = JobRequest.parse(base);
  return {
    id: JOB_ID,
    created_at: now,
    updated_at: now,
    request,
    settings: resolveJobSettings(request, undefined),
    state: 'succeeded',
    stage: 'encode',
    progress: { overall: 1, stage_done: 30, stage_total: 30, eta_s: 0 },
    timings: { probe: 0.1, extract: 1.5, encode: 2 },
    attempts: 1,
    result: {
      output_path: '/out/clip_dog_0b6f2f36.mov', preview_paths: [], frame_count: 30, width: 1920, height: 1080,
      frame_rate: '30000/1001', fps: 29.97, duration_s: 1.001, codec: 'prores', has_audio: false,
    },
    error: null,
  };
}

test('job records validate and survive a JSON round trip', () => {
  const rec = JobRecord.parse(record());
  assert.deepEqual(JobRecord.parse(JSON.parse(JSON.stringify(rec))), rec);
  assert.equal(JobRecord.safeParse({ ...(record() as object), state: 'paused' }).success, false);
  assert.equal(JobRecord.safeParse({ ...(record() as object), stage: 'render' }).success, false);
  assert.equal(JobRecord.safeParse({ ...(record() as object), id: 'x' }).success, false);
  assert.equal(
    JobRecord.safeParse({ ...(record() as object), progress: { overall: 1.2, stage_done: 0, stage_total: 0, eta_s: null } }).success,
    false,
  );
});

test('every event type round-trips through the union', () => {
  const rec = JobRecord.parse(record());
  const events: ServerEventT[] = [
    { type: 'hello', server_version: '0.1.0', api_version: 'v1', jobs: [rec] },
    { type: 'job.state', job: rec },
    { type: 'job.progress', job_id: JOB_ID, stage: 'edit', done: 3, total: 50, eta_s: 12.5, overall: 0.4 },
    { type: 'job.preview', job_id: JOB_ID, index: 4, mime: 'image/jpeg', data: Buffer.from('jpegbytes').toString('base64'), width: 64, height: 48 },
    { type: 'job.log', job_id: JOB_ID, level: 'info', message: 'probe: 30 frames', time: now },
    { type: 'job.deleted', job_id: JOB_ID },
    {
      type: 'model.progress',
      job: {
        id: JOB_ID, model_id: 'stabilityai/stable-diffusion-2-1-base', revision: 'main', precision: 'fp16', state: 'running',
        bytes_done: 1_000_000, bytes_total: 2_600_000_000, bytes_per_second: 5e6, eta_s: 519.8, file: 'unet/diffusion_pytorch_model.fp16.safetensors',
        error: null, created_at: now, updated_at: now,
      },
    },
    { type: 'error', code: 'bad_request', message: 'unknown message' },
  ];
  const types = new Set<string>();
  for (const e of events) {
    const parsed = ServerEvent.parse(JSON.parse(JSON.stringify(e)));
    assert.deepEqual(parsed, e);
    types.add(parsed.type);
  }
  assert.equal(types.size, ServerEvent.options.length, 'one sample per event schema');
  assert.equal(ServerEvent.safeParse({ type: 'job.progress', job_id: JOB_ID, stage: 'edit', done: 1, total: 2, eta_s: null, overall: 0.1, x: 1 }).success, false);
  assert.equal(ServerEvent.safeParse({ type: 'job.preview', job_id: JOB_ID, index: 0, mime: 'image/gif', data: 'AA==', width: 1, height: 1 }).success, false);
  assert.equal(ServerEvent.safeParse({ type: 'nope' }).success, false);
});

test('health, error body', () => {
  assert.ok(Health.parse({
    status: 'ok', version: '0.1.0', api_version: 'v1', device: null, models: ['tiny-sd15'], default_model: 'tiny-sd15',
    queue: { queued: 2, running: 1 },
  }));
  const body = ErrorBody.parse({ error: { code: 'bad_request', message: 'steps must be…', field: 'parameters.steps' } });
  assert.equal(body.error.field, 'parameters.steps');
  assert.equal(ErrorBody.safeParse({ error: { code: 'Bad Code', message: '' } }).success, false);
});

test('built-in presets are valid, unique, at least 8, and cover the categories', () => {
  assert.ok(BUILTIN_PRESETS.length >= 8);
  const names = BUILTIN_PRESETS.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
  for (const p of BUILTIN_PRESETS) {
    assert.deepEqual(Preset.parse(p), p);
    assert.equal(p.builtin, true);
    const s = resolveJobSettings(JobRequest.parse({ ...base, preset: p.name }), p);
    assert.ok(s.prompt.includes('a dog on a beach') && s.prompt !== 'a dog on a beach', p.name);
    assert.deepEqual(JobParameters.parse(s.parameters), s.parameters);
  }
  const cats = new Set(BUILTIN_PRESETS.map((p) => p.category));
  for (const c of ['style', 'material', 'season', 'time_of_day']) assert.ok(cats.has(c as never), c);
});

test('preset bodies need the {prompt} placeholder and valid parameter overrides', () => {
  assert.equal(PresetBody.parse({ description: 'x', prompt: '{prompt}, sepia' }).category, 'custom');
  assert.match(PresetBody.safeParse({ description: 'x', prompt: 'sepia' }).error!.issues[0].message, /\{prompt\}/);
  assert.equal(PresetBody.safeParse({ description: 'x', prompt: '{prompt} {prompt}' }).success, false);
  assert.equal(PresetBody.safeParse({ description: 'x', prompt: '{prompt}', parameters: { steps: 0 } }).success, false);
  assert.equal(PresetBody.safeParse({ description: 'x', prompt: '{prompt}', builtin: true }).success, false);
});
