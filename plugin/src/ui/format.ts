// Words and numbers as the panel shows them.
import type { JobState, Stage } from '../../../shared/jobs.ts';

const STAGE_LABELS: Record<Stage, string> = {
  probe: 'Reading the clip',
  extract: 'Extracting frames',
  invert: 'Inverting the frames',
  edit: 'Editing keyframes',
  decode: 'Decoding frames',
  encode: 'Writing the video',
};

export function stageLabel(stage: Stage): string {
  return STAGE_LABELS[stage];
}

const STATE_LABELS: Record<JobState, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
  interrupted: 'Interrupted',
};

export function stateLabel(state: JobState): string {
  return STATE_LABELS[state];
}

/** "about 40 s left", "about 3 min left", "about 1 h 5 min left"; '' when unknown. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `about ${s} s left`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `about ${minutes} min left`;
  return `about ${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
}

/** "0.8 s", "12 s", "1 min 5 s". */
export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

export function percent(fraction: number): string {
  return `${Math.floor(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

/** The file name of a path, either slash. */
export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}
