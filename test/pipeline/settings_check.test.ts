import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobRequest } from '../../shared/jobs.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import { checkJobSettings, SettingsError, submitCheck } from '../../companion/pipeline/settings_check.ts';
import { JobServiceError } from '../../companion/jobs/index.ts';

function settings(extra: Record<string, unknown>, defaultModel?: string) {
  return resolveJobSettings(JobRequest.parse({
    source_path: '/clips/a.mov', range: { start_seconds: 0, end_seconds: 1 }, prompt: 'a red robot', ...extra,
  }), undefined, defaultModel);
}

test('runnable settings pass: the model resolves and the schedules fit', async () => {
  await checkJobSettings(settings({ model: 'tiny-sd15' }), {});
  await checkJobSettings(settings({ parameters: { steps: 10, inversion_steps: 10 } }, 'tiny-sd15'), {});
});

test('an inversion schedule that misses edit timesteps is refused, naming the field and the valid counts', async () => {
  await assert.rejects(checkJobSettings(settings({ model: 'tiny-sd15', parameters: { steps: 50, inversion_steps: 7 } }), {}), (err: unknown) => {
    assert.ok(err instanceof SettingsError);
    assert.equal(err.field, 'parameters.inversion_steps');
    assert.match(err.message, /inversion_steps 7 does not contain the 50 edit timesteps .* must be one of 50, 99-100, 197-200, 246-250, 491-500, 981-999/);
    return true;
  });
});

test('a model that is not installed, or no model at all, is refused naming the model field', async () => {
  await assert.rejects(checkJobSettings(settings({ model: 'acme/not-here' }), { HF_HUB_CACHE: '/nonexistent-cache' }), (err: unknown) => {
    assert.ok(err instanceof SettingsError);
    assert.equal(err.field, 'model');
    assert.match(err.message, /tokenflow models pull acme\/not-here/);
    return true;
  });
  await assert.rejects(checkJobSettings(settings({}), {}), { field: 'model', message: /no default model/ });
});

test('a model that does not predict epsilon is refused naming the model field', async (t) => {
  // tiny-sd15 with a v-prediction scheduler.
  const tiny = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settings-check-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const entry of fs.readdirSync(tiny)) if (entry !== 'scheduler') fs.symlinkSync(path.join(tiny, entry), path.join(dir, entry));
  fs.mkdirSync(path.join(dir, 'scheduler'));
  const config = JSON.parse(fs.readFileSync(path.join(tiny, 'scheduler', 'scheduler_config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify({ ...config, prediction_type: 'v_prediction' }));
  await assert.rejects(checkJobSettings(settings({}, dir), {}), (err: unknown) => {
    assert.ok(err instanceof SettingsError);
    assert.equal(err.field, 'model');
    assert.match(err.message, /prediction_type "v_prediction" is not supported/);
    return true;
  });
});

test('as the job service\'s submit check, a refusal is a 400 naming the field; other failures pass through as they are', async () => {
  const check = submitCheck((s) => checkJobSettings(s, { HF_HUB_CACHE: '/nonexistent-cache' }));
  await assert.rejects(check(settings({ model: 'acme/not-here' })), (err: unknown) => {
    assert.ok(err instanceof JobServiceError);
    assert.equal(err.code, 'bad_request');
    assert.equal(err.status, 400);
    assert.equal(err.field, 'model');
    assert.match(err.message, /tokenflow models pull acme\/not-here/);
    return true;
  });
  const broken = new Error('the inspector crashed');
  await assert.rejects(submitCheck(() => Promise.reject(broken))(settings({ model: 'tiny-sd15' })), (err: unknown) => err === broken);
  await submitCheck((s) => checkJobSettings(s, {}))(settings({ model: 'tiny-sd15' }));
});
