// The checks a job's settings must pass before the daemon queues it, kept free of the model
// runtime so the daemon's main thread can run them: the model resolves to a valid folder, it
// predicts epsilon, and the inversion schedule contains every edit timestep.
import type { JobSettings } from '../../shared/jobs.ts';
import { resolveModel } from '../hub/catalog.ts';
import { JobServiceError } from '../jobs/errors.ts';
import type { ModelInspector } from '../hub/report_cache.ts';
import { PipelineError } from './interface.ts';
import { resolveEditSchedule, ScheduleError } from './schedule.ts';

import { processEnv, type Env } from '../config.ts';

/** The folder of the model a job's settings name (the daemon records its default there at submit). */
export async function jobModelDir(model: string | null, env: Env = processEnv(), inspect?: ModelInspector): Promise<string> {
  if (model === null) {
    throw new PipelineError('model_not_found', 'no model: the job names none and the daemon has no default model (start it with `tokenflow serve --model ...` or set TOKENFLOW_MODEL; `tokenflow models list` shows what is installed)');
  }
  try {
    return await resolveModel(model, { env, inspect });
  } catch (err) {
    throw new PipelineError('model_not_found', err instanceof Error ? err.message : String(err));
  }
}

/** Settings no run could succeed with, found before a job is queued; `field` is the request field. */
export class SettingsError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

/** `check` as the job service's submit check: a job that could never run is a 400 naming the field. */
export function submitCheck(check: (settings: JobSettings) => Promise<void>): (settings: JobSettings) => Promise<void> {
  return async (settings) => {
    try {
      await check(settings);
    } catch (err) {
      if (err instanceof SettingsError) throw new JobServiceError('bad_request', err.message, { field: err.field });
      throw err;
    }
  };
}

/**
 * What the daemon checks at submit, so the editor gets a 400 naming the field instead of a job
 * that fails minutes later: the model resolves to a valid folder, it predicts epsilon, and the
 * inversion schedule contains every edit timestep.
 */
export async function checkJobSettings(settings: JobSettings, env: Env = processEnv(), inspect?: ModelInspector): Promise<void> {
  let modelDir: string;
  try {
    modelDir = await jobModelDir(settings.model, env, inspect);
  } catch (err) {
    throw new SettingsError('model', err instanceof Error ? err.message : String(err));
  }
  try {
    await resolveEditSchedule(modelDir, settings.parameters.steps, settings.parameters.inversion_steps);
  } catch (err) {
    if (err instanceof ScheduleError) throw new SettingsError(err.field, err.message);
    throw err;
  }
}
