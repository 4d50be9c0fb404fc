// Messages between the job runner (daemon) and the pipeline process. The process runs
// one job at a time and is reused for the next (the pipeline module, and later its loaded
// models, stay in memory); `runId` ties every message to its run.
import type { LogLevel } from '../../shared/events.ts';
import type { PipelineInput, PipelineOutput, PipelinePreview, PipelineProgress } from '../pipeline/interface.ts';

/**
 * `run`'s `silenceLimitMs`: when set, the parent sends `beat` well within it during the run,
 * and a process that hears nothing from its parent for that long (the parent frozen, or its
 * event loop blocked) exits with PARENT_SILENT_EXIT_CODE before its run writes anything more.
 * Null: no such limit (the daemon's own runs).
 */
export type ToWorker =
  | { type: 'run'; runId: number; input: PipelineInput; silenceLimitMs: number | null }
  | { type: 'abort'; runId: number; reason: string }
  | { type: 'beat' };

/** The exit code of a pipeline process that stopped because its parent fell silent (EX_TEMPFAIL). */
export const PARENT_SILENT_EXIT_CODE = 75;

export interface SerializedError {
  name: string;
  message: string;
  code: string | null;
  stack: string | null;
}

export type FromWorker = { runId: number } & (
  | { type: 'progress'; progress: PipelineProgress }
  | { type: 'preview'; preview: PipelinePreview }
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'done'; output: PipelineOutput }
  | { type: 'error'; error: SerializedError }
);
