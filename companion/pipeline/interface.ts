// The narrow seam between the job runner and the TokenFlow pipeline: frames in, frames out,
// progress, previews, abort. The runner hosts a pipeline module in a child process
// (companion/pipeline_process/host.ts), so everything crossing this seam is plain data.
import type { LogLevel } from '../../shared/events.ts';
import type { JobSettings, StageProgress } from '../../shared/jobs.ts';
import type { FrameSet, RawFrames } from '../media/types.ts';

/** Stages the pipeline reports; probe/extract/encode belong to the runner. */
export type PipelineStage = 'invert' | 'edit' | 'decode';

/** A progress report of one of the pipeline's stages. */
export type PipelineProgress = StageProgress & { stage: PipelineStage };

export interface PipelineInput {
  /** The source frames at processing size (raw rgb24 on disk). */
  frames: FrameSet;
  /** Effective settings: prompts, parameters, model (null = the pipeline's default). */
  settings: JobSettings;
  /** Edit the keyframes only; `output` then holds just those frames (see PipelineOutput). */
  previewOnly: boolean;
  /** An empty directory owned by this job attempt, for the output and scratch files. */
  workDir: string;
  /**
   * Directory that survives restarts of this job (the inversion latents, the edit checkpoint), so a
   * resumed job can skip work already done. The pipeline may ignore it.
   */
  cacheDir: string;
}

export interface PipelineOutput {
  /** Edited frames, same size as the input, written under workDir. */
  frames: RawFrames;
  /** For each output frame, its index in the input frames (identity for a full edit). */
  frameIndices: number[];
}

export interface PipelinePreview {
  /** Frame index within the range. */
  index: number;
  mime: 'image/jpeg' | 'image/png';
  data: Uint8Array;
  width: number;
  height: number;
}

export interface PipelineHooks {
  signal: AbortSignal;
  onProgress(progress: PipelineProgress): void;
  onPreview(preview: PipelinePreview): void;
  onLog(level: LogLevel, message: string): void;
}

export interface Pipeline {
  /**
   * Runs invert → edit → decode. Must check `hooks.signal` between model calls and reject
   * with an AbortError when it fires; must reject with a PipelineError for known failures.
   */
  run(input: PipelineInput, hooks: PipelineHooks): Promise<PipelineOutput>;
}

/**
 * What a pipeline module (loaded in the pipeline process by URL) exports. The product's module is
 * companion/pipeline/tokenflow.ts (the TokenFlow edit); tests pass their own.
 */
export interface PipelineModule {
  createPipeline(): Pipeline | Promise<Pipeline>;
}

/** A failure with a code from shared/errors.ts ERROR_CODES (e.g. 'model_not_found'). */
export class PipelineError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PipelineError';
  }
}
