// Messages between the job runner (daemon) and the pipeline process. The process runs
// one job at a time and is reused for the next (the pipeline module, and later its loaded
// models, stay in memory); `runId` ties every message to its run.
import type { LogLevel } from '../../shared/events.ts';
import type { PipelineInput, PipelineOutput, PipelinePreview, PipelineProgress } from '../pipeline/interface.ts';

export type ToWorker = { type: 'run'; runId: number; input: PipelineInput } | { type: 'abort'; runId: number; reason: string };

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

