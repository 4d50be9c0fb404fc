// The three timestep lists of one edit:
// the S edit timesteps (noisiest first), the inversion timesteps walked upwards, and the
// latents preprocessing keeps: every edit timestep plus the noisiest inversion timestep
// (the start latent's eps_hat comes from it). The edit reads the stored latents of each of
// its timesteps, so the inversion schedule must contain the edit schedule.
import path from 'node:path';
import { DDIMScheduler, type DDIMConfig } from '../models/ddim.ts';
import { PipelineError } from './interface.ts';

export interface Schedules {
  /** Edit timesteps, noisiest first (e.g. 981, 961, ..., 1 for 50 steps). */
  edit: number[];
  /** Inversion timesteps in the order they are walked: least noisy first (1, 3, ..., 999). */
  inversion: number[];
  /** Timesteps whose latents are stored, noisiest first: the edit ones and `noisiest`. */
  saved: number[];
  /** The last inversion timestep: its latents give eps_hat. */
  noisiest: number;
}

/** Largest inversion step count accepted (1000 would produce t = 1000, past the schedule). */
export const MAX_INVERSION_STEPS = 999;

/** A setting no edit can run with; `field` is the job request field at fault. */
export class ScheduleError extends PipelineError {
  constructor(readonly field: 'model' | 'parameters.steps' | 'parameters.inversion_steps', message: string) {
    super('bad_request', message);
    this.name = 'ScheduleError';
  }
}

/**
 * The model's DDIM scheduler, set to the edit's steps, and the edit's timestep lists: resolved
 * once per edit (resolveEditSchedule) and handed to preprocessing, the editor and the previews.
 */
export interface EditSchedule {
  scheduler: DDIMScheduler;
  schedules: Schedules;
}

/**
 * Loads `<modelDir>/scheduler`, checks that the model predicts epsilon and plans the schedules;
 * a ScheduleError names the setting that cannot work.
 */
export async function resolveEditSchedule(modelDir: string, steps: number, inversionSteps: number): Promise<EditSchedule> {
  const scheduler = await DDIMScheduler.load(path.join(modelDir, 'scheduler'));
  if (scheduler.config.prediction_type !== 'epsilon') {
    throw new ScheduleError('model', `${modelDir}: prediction_type "${scheduler.config.prediction_type}" is not supported (TokenFlow needs an epsilon-prediction model such as stable-diffusion-2-1-base)`);
  }
  const schedules = planSchedules(scheduler.config, steps, inversionSteps);
  scheduler.setTimesteps(steps);
  return { scheduler, schedules };
}

/** Throws unless `schedule` was resolved for these step counts. */
export function checkScheduleFor(schedule: EditSchedule, steps: number, inversionSteps: number): void {
  const { edit, inversion } = schedule.schedules;
  if (edit.length !== steps || inversion.length !== inversionSteps || schedule.scheduler.numInferenceSteps !== steps) {
    throw new Error(`edit schedule: resolved for ${edit.length} steps / ${inversion.length} inversion steps, the edit has ${steps} / ${inversionSteps}`);
  }
}

export function planSchedules(config: DDIMConfig, steps: number, inversionSteps: number): Schedules {
  if (!Number.isInteger(steps) || steps < 1 || steps > config.num_train_timesteps) {
    throw new ScheduleError('parameters.steps', `steps must be a whole number from 1 to ${config.num_train_timesteps} (the model's training timesteps), got ${steps}`);
  }
  const edit = new DDIMScheduler(config).setTimesteps(steps);
  if (!Number.isInteger(inversionSteps) || inversionSteps < 1 || inversionSteps > MAX_INVERSION_STEPS) {
    throw new ScheduleError('parameters.inversion_steps', `inversion_steps must be a whole number from 1 to ${MAX_INVERSION_STEPS}, got ${inversionSteps}`);
  }
  const descending = new DDIMScheduler(config).setTimesteps(inversionSteps);
  const have = new Set(descending);
  const missing = edit.filter((t) => !have.has(t));
  if (missing.length) {
    throw new ScheduleError(
      'parameters.inversion_steps',
      `inversion_steps ${inversionSteps} does not contain the ${steps} edit timesteps ` +
        `(missing t = ${abbreviate(missing)}); with ${steps} edit steps, inversion_steps must be one of ` +
        `${formatCounts(validInversionCounts(config, steps))}`,
    );
  }
  const noisiest = descending[0]!;
  const saved = [...new Set([noisiest, ...edit])].sort((a, b) => b - a);
  return { edit, inversion: descending.slice().reverse(), saved, noisiest };
}

/** Every inversion step count (1..999) whose timesteps contain all `steps` edit timesteps. */
export function validInversionCounts(config: DDIMConfig, steps: number): number[] {
  const edit = new DDIMScheduler(config).setTimesteps(steps);
  const scheduler = new DDIMScheduler(config);
  const out: number[] = [];
  for (let n = 1; n <= MAX_INVERSION_STEPS; n++) {
    const have = new Set(scheduler.setTimesteps(n));
    if (edit.every((t) => have.has(t))) out.push(n);
  }
  return out;
}

/** "50, 99-100, 197-200": runs of consecutive counts as ranges. */
export function formatCounts(counts: readonly number[]): string {
  if (!counts.length) return '(none)';
  const parts: string[] = [];
  let start = counts[0]!;
  let prev = start;
  for (const c of [...counts.slice(1), Infinity]) {
    if (c === prev + 1) {
      prev = c;
      continue;
    }
    parts.push(start === prev ? String(start) : `${start}-${prev}`);
    start = prev = c;
  }
  return parts.join(', ');
}

function abbreviate(ts: readonly number[]): string {
  return ts.length <= 6 ? ts.join(', ') : `${ts.slice(0, 5).join(', ')}, ... (${ts.length} in all)`;
}
