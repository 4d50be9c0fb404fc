import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ddimConfigSchema } from '../../companion/models/ddim.ts';
import { formatCounts, planSchedules, validInversionCounts } from '../../companion/pipeline/schedule.ts';

// Stable Diffusion's scheduler as TokenFlow reads it (tokenflow-algorithm.md section 2.4).
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
});

test('formatCounts joins runs', () => {
  assert.equal(formatCounts([1, 2, 3, 5, 7, 8]), '1-3, 5, 7-8');
  assert.equal(formatCounts([]), '(none)');
});
