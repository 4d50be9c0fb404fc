// Messages between the job runner (daemon) and the pipeline process. The process runs
// one job at a time and is reused for the next (the pipeline module, and later its loaded
// models, stay in memory); `runId` ties every message to its run.
import type { PipelineInput, PipelineOutput, PipelinePreview, PipelineStage } from '../pipeline/interface.ts';

export type ToWorker = { type: 'run'; runId: number; input: PipelineInput } | { type: 'abort'; runId: number; reason: string };

export interface SerializedError {
  name: string;
  message: string;
  code: string | null;
  stack: string | null;
}

export type FromWorker = { runId: number } & (
  | { type: 'progress'; stage: PipelineStage; done: number; total: number; doneBefore?: number }
  | { type: 'preview'; preview: PipelinePreview }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  | { type: 'done'; output: PipelineOutput }
  | { type: 'error'; error: SerializedError }
);

