// The job state machine. The job service checks every state change with `assertTransition`, so an illegal move
// (e.g. a finished job starting again) is a bug that fails loudly instead of corrupting state.
import type { JobState } from '../../shared/jobs.ts';

/**
 *   queued ──► running ──► succeeded | failed | canceled
 *     │          │  ▲
 *     │          ▼  │ (daemon stopped: resume later, or `interrupted` at the attempt cap)
 *     │        queued
 *     └──► canceled | interrupted | failed (its start could not be recorded: full disk)
 */
const TRANSITIONS: Record<JobState, readonly JobState[]> = {
  queued: ['running', 'canceled', 'interrupted', 'failed'],
  running: ['succeeded', 'failed', 'canceled', 'queued', 'interrupted'],
  succeeded: [],
  failed: [],
  canceled: [],
  interrupted: [],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

export class IllegalTransitionError extends Error {
  constructor(id: string, from: JobState, to: JobState) {
    super(`job ${id}: illegal state change ${from} -> ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

export function assertTransition(id: string, from: JobState, to: JobState): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(id, from, to);
}

export function isFinished(state: JobState): boolean {
  return TRANSITIONS[state].length === 0;
}
