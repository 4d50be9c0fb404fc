import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ddimConfigSchema } from '../../companion/models/ddim.ts';
import {
  checkScheduleFor, formatCounts, planSchedules, resolveEditSchedule, ScheduleError, validInversionCounts,
} from '../../companion/pipeline/schedule.ts';

const MODEL = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));

// Stable Diffusion's scheduler as TokenFlow reads it.
const SD = ddimConfigSchema.parse({
  beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, set_alpha_to_one: false, clip_sample: false,
});

test('reference defaults: 50 edit steps inside 500 inversion steps; saved = the 50 edit timesteps + the noisiest (999)', () => {
  const s = planSchedules(SD, 50, 500);
  assert.equal(s.edit.length, 50);
  assert.deepEqual(s.edit.slice(0, 3), [981, 961, 941]);
  assert.equal(s.edit[49], 1);
  assert.deepEqual(s.inversion.slice(0, 3), [1, 3, 5]);
  assert.equal(s.inversion.length, 500);
  assert.equal(s.noisiest, 999);
  assert.deepEqual(s.saved, [999, ...s.edit]);
});

test('50 inversion steps: the noisiest is 981 and the saved set is exactly the edit schedule', () => {
  const s = planSchedules(SD, 50, 50);
  assert.equal(s.noisiest, 981);
  assert.deepEqual(s.saved, s.edit);
});

test('valid inversion step counts for 50 edit steps are the spec list (section 2.6)', () => {
  assert.equal(formatCounts(validInversionCounts(SD, 50)), '50, 99-100, 197-200, 246-250, 491-500, 981-999');
});

test('an inversion schedule missing edit timesteps fails, naming them and the valid counts', () => {
  assert.throws(() => planSchedules(SD, 50, 300), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'bad_request');
    assert.match(err.message, /inversion_steps 300 does not contain the 50 edit timesteps/);
    assert.match(err.message, /missing t = 981, 961, 941, 921, 901, \.\.\. \(\d+ in all\)/);
    assert.match(err.message, /must be one of 50, 99-100, 197-200, 246-250, 491-500, 981-999$/);
    return true;
  });
  assert.throws(() => planSchedules(SD, 10, 1000), /inversion_steps must be a whole number from 1 to 999/);
  assert.throws(() => planSchedules(SD, 1001, 10), { name: 'ScheduleError', field: 'parameters.steps', message: /steps must be a whole number from 1 to 1000 \(the model's training timesteps\), got 1001/ });
});

test('formatCounts joins runs', () => {
  assert.equal(formatCounts([1, 2, 3, 5, 7, 8]), '1-3, 5, 7-8');
  assert.equal(formatCounts([]), '(none)');
});

test('resolveEditSchedule: the model\'s scheduler set to the edit steps, and the schedules planned from it', async () => {
  const r = await resolveEditSchedule(MODEL, 10, 20);
  assert.equal(r.scheduler.numInferenceSteps, 10);
  assert.deepEqual(r.scheduler.timesteps, [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  assert.deepEqual(r.schedules, planSchedules(r.scheduler.config, 10, 20));
  checkScheduleFor(r, 10, 20);
  assert.throws(() => checkScheduleFor(r, 10, 50), /edit schedule: resolved for 10 steps \/ 20 inversion steps, the edit has 10 \/ 50/);
  assert.throws(() => checkScheduleFor(r, 5, 20), /resolved for 10 steps/);
});

test('resolveEditSchedule names the setting that cannot work: the model (not epsilon-prediction) or inversion_steps', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schedule-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'scheduler'));
  fs.writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify({ prediction_type: 'v_prediction' }));
  await assert.rejects(resolveEditSchedule(dir, 10, 10), (err: unknown) => {
    assert.ok(err instanceof ScheduleError);
    assert.equal(err.field, 'model');
    assert.equal(err.code, 'bad_request');
    assert.match(err.message, /prediction_type "v_prediction" is not supported \(TokenFlow needs an epsilon-prediction model/);
    return true;
  });
  await assert.rejects(resolveEditSchedule(MODEL, 50, 7), { name: 'ScheduleError', field: 'parameters.inversion_steps', code: 'bad_request', message: /inversion_steps 7 does not contain the 50 edit timesteps/ });
});
