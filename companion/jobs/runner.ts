// Runs one edit through its stages: probe → extract → pipeline (invert, edit, decode) → encode,
// for a daemon's job (the pipeline in a child process) and for `tokenflow edit` (the same
// stages, events and work-folder handling, the pipeline in its own process, no queue). Each
// finished expensive stage leaves a checkpoint in the work folder, so a job resumed after a
// daemon restart starts from its last completed stage.
// The signal is checked between stages and handed to every media call and to the pipeline.
import fs from 'node:fs';
import path from 'node:path';
import type { LogLevel } from '../../shared/events.ts';
import type { JobRecord, JobResult, Stage, StageProgress } from '../../shared/jobs.ts';
import type { FrameSet, MediaInfo, RawFrames, Rational } from '../media/types.ts';
import type { Pipeline, PipelineOutput, PipelinePreview, PipelineStage } from '../pipeline/interface.ts';
import { encodePngRgb } from '../util/png.ts';
import { writeFileAtomic } from '../util/atomic_file.ts';
import type { MediaApi } from './media_api.ts';
import { outputBaseName, videoExtension } from './output_files.ts';

export interface RunnerEvents {
  stageStart(stage: Stage): void;
  progress(progress: StageProgress): void;
  stageEnd(stage: Stage): void;
  /** The stage's work was done by an earlier attempt (resume). */
  stageSkipped(stage: Stage): void;
  preview(preview: PipelinePreview): void;
  log(level: LogLevel, message: string): void;
  /**
   * An executor that hands the job to others (the studio farm) only: a worker, named, took it
   * (until then the job stays queued). runJob runs the job at once and calls neither.
   */
  taken?(worker: string): void;
  /**
   * The job went back to the executor's queue: `released`, its worker let it go (it stopped,
   * or another worker found it stalled); `silent`, no live worker lists it any more (its worker
   * died, and no other worker runs to find it stalled): it waits for one.
   */
  requeued?(cause: RequeueCause): void;
}

export type RequeueCause = 'released' | 'silent';

/** What a run reads of its job: `tokenflow edit` builds one with the daemon's resolveJobSettings. */
export type EditRun = Pick<JobRecord, 'id' | 'request' | 'settings'>;

export interface RunContext {
  job: EditRun;
  /** The run's own work folder; a daemon's job keeps it across restarts until the job ends. */
  jobDir: string;
  outputDir: string;
  /** The render's file; default `<outputDir>/<clip>_<prompt>_<id8>` with the codec's extension. */
  outputPath?: string;
  /** The daemon's PipelineHost (a child process), or a pipeline in this process. */
  pipelines: Pipeline;
  media: MediaApi;
  signal: AbortSignal;
  events: RunnerEvents;
}

/** A daemon's job (what the job service, and the farm client in its place, run). */
export interface RunJobContext extends RunContext {
  job: JobRecord;
}

const PIPELINE_STAGES: readonly PipelineStage[] = ['invert', 'edit', 'decode'];

interface ExtractCheckpoint {
  sourceSize: number;
  sourceMtimeMs: number;
  shortSide: number;
  frames: FrameSet;
}

interface PipelineCheckpoint {
  framesPath: string;
  output: PipelineOutput;
}

export async function runJob(ctx: RunContext): Promise<JobResult> {
  const { job, signal, events } = ctx;
  const source = job.request.source_path;
  const { start_ticks: startTicks, end_ticks: endTicks } = job.settings;
  fs.mkdirSync(ctx.jobDir, { recursive: true, mode: 0o700 });

  // probe (always: cheap, and it notices a source changed since the last attempt)
  checkAborted(signal);
  events.stageStart('probe');
  const info = await ctx.media.probe(source, { signal });
  const stat = fs.statSync(source);
  events.progress({ stage: 'probe', done: 1, total: 1 });
  events.stageEnd('probe');

  const frames = await extractStage(ctx, info, stat, startTicks, endTicks);
  const output = await pipelineStage(ctx, frames);
  checkAborted(signal);
  return job.request.preview_only ? writePreviews(ctx, frames, output, info) : encodeStage(ctx, info, output);
}

async function extractStage(ctx: RunContext, info: MediaInfo, stat: fs.Stats, startTicks: string, endTicks: string): Promise<FrameSet> {
  const { events, signal } = ctx;
  const shortSide = ctx.job.settings.parameters.short_side;
  const checkpointFile = path.join(ctx.jobDir, 'extract.json');
  const saved = readJson<ExtractCheckpoint>(checkpointFile);
  if (
    saved &&
    saved.sourceSize === stat.size &&
    saved.sourceMtimeMs === stat.mtimeMs &&
    saved.shortSide === shortSide &&
    rawFramesIntact(saved.frames)
  ) {
    events.stageSkipped('extract');
    events.log('info', `extract: reusing ${saved.frames.count} frames from an earlier attempt`);
    return saved.frames;
  }
  checkAborted(signal);
  events.stageStart('extract');
  const framesDir = freshDir(path.join(ctx.jobDir, 'frames'));
  const frames = await ctx.media.extractFrames({
    input: ctx.job.request.source_path,
    startTicks,
    endTicks,
    shortSide,
    workDir: framesDir,
    info,
    signal,
    onProgress: (p) => events.progress({ stage: 'extract', done: p.done, total: p.total }),
  });
  writeFileAtomic(checkpointFile, JSON.stringify({ sourceSize: stat.size, sourceMtimeMs: stat.mtimeMs, shortSide, frames } satisfies ExtractCheckpoint));
  const { displayWidth, displayHeight, frameRate } = info.video;
  events.log('info', `extract: ${frames.count} frames at ${frames.width}x${frames.height} (source ${displayWidth}x${displayHeight}, ${frameRate.num}/${frameRate.den} fps)`);
  events.stageEnd('extract');
  return frames;
}

async function pipelineStage(ctx: RunContext, frames: FrameSet): Promise<PipelineOutput> {
  const { events, signal } = ctx;
  const checkpointFile = path.join(ctx.jobDir, 'pipeline.json');
  const saved = readJson<PipelineCheckpoint>(checkpointFile);
  if (saved && saved.framesPath === frames.path && rawFramesIntact(saved.output.frames)) {
    for (const s of PIPELINE_STAGES) events.stageSkipped(s);
    events.log('info', 'pipeline: reusing the edited frames from an earlier attempt');
    return saved.output;
  }
  checkAborted(signal);
  let current: PipelineStage | null = null;
  const enter = (stage: PipelineStage) => {
    if (stage === current) return;
    // Stages arrive in order; any the pipeline did not report (e.g. a cached inversion) were skipped.
    const from = current === null ? 0 : PIPELINE_STAGES.indexOf(current) + 1;
    if (current !== null) events.stageEnd(current);
    for (const s of PIPELINE_STAGES.slice(from, PIPELINE_STAGES.indexOf(stage))) events.stageSkipped(s);
    current = stage;
    events.stageStart(stage);
  };
  enter('invert');
  const output = await ctx.pipelines.run(
    {
      frames,
      settings: ctx.job.settings,
      previewOnly: ctx.job.request.preview_only,
      workDir: freshDir(path.join(ctx.jobDir, 'pipeline')),
      cacheDir: ensureDir(path.join(ctx.jobDir, 'cache')),
    },
    {
      signal,
      onProgress: (progress) => {
        if (PIPELINE_STAGES.indexOf(progress.stage) < PIPELINE_STAGES.indexOf(current ?? 'invert')) return;
        enter(progress.stage);
        events.progress(progress);
      },
      onPreview: (p) => events.preview(p),
      onLog: (level, message) => events.log(level, message),
    },
  );
  checkAborted(signal);
  checkPipelineOutput(ctx, frames, output);
  enter('decode');
  events.stageEnd('decode');
  writeFileAtomic(checkpointFile, JSON.stringify({ framesPath: frames.path, output } satisfies PipelineCheckpoint));
  return output;
}

function checkPipelineOutput(ctx: RunContext, input: FrameSet, output: PipelineOutput): void {
  const { frames, frameIndices } = output;
  const problem =
    frames.width !== input.width || frames.height !== input.height
      ? `frames are ${frames.width}x${frames.height}, expected ${input.width}x${input.height}`
      : frameIndices.length !== frames.count
        ? `${frameIndices.length} frame indices for ${frames.count} frames`
        : !ctx.job.request.preview_only && frames.count !== input.count
          ? `${frames.count} frames out for ${input.count} in`
          : !rawFramesIntact(frames)
            ? `frame file ${frames.path} is missing or has the wrong size`
            : null;
  if (problem) throw new Error(`the pipeline returned bad output: ${problem}`);
}

async function encodeStage(ctx: RunContext, info: MediaInfo, output: PipelineOutput): Promise<JobResult> {
  const { job, events, signal } = ctx;
  const request = job.request;
  let withAudio = request.output_kind === 'video+audio';
  if (withAudio && info.audio.length === 0) {
    events.log('warn', 'the source has no audio; rendering video only');
    withAudio = false;
  }
  const outputPath = ctx.outputPath ?? path.join(
    ctx.outputDir,
    outputBaseName(request.source_path, request.prompt, job.id) + videoExtension(request.codec),
  );
  events.stageStart('encode');
  const encoded = await ctx.media.encodeVideo({
    frames: output.frames,
    source: info,
    startTicks: job.settings.start_ticks,
    endTicks: job.settings.end_ticks,
    output: outputPath,
    codec: request.codec,
    withAudio,
    signal,
    onProgress: (p) => events.progress({ stage: 'encode', done: p.done, total: p.total }),
  });
  // A cancel that raced the end of the encode still wins; the service removes the file.
  checkAborted(signal);
  if (!fs.statSync(encoded.output).isFile()) throw new Error(`the encoder reported ${encoded.output} but it is not a file`);
  events.stageEnd('encode');
  return {
    output_path: encoded.output,
    preview_paths: [],
    frame_count: encoded.frameCount,
    width: encoded.width,
    height: encoded.height,
    ...rate(encoded.frameRate, encoded.frameCount),
    codec: encoded.codec,
    has_audio: encoded.hasAudio,
  };
}

/** Preview-only jobs: the edited keyframes as PNG files in the output folder. */
async function writePreviews(ctx: RunContext, input: FrameSet, output: PipelineOutput, info: MediaInfo): Promise<JobResult> {
  const { job, events, signal } = ctx;
  const base = outputBaseName(job.request.source_path, job.request.prompt, job.id);
  const digits = String(input.count - 1).length;
  const paths: string[] = [];
  events.stageStart('encode');
  for (let i = 0; i < output.frames.count; i++) {
    checkAborted(signal);
    const file = path.join(ctx.outputDir, `${base}_frame${String(output.frameIndices[i]).padStart(digits, '0')}.png`);
    const rgb = await ctx.media.readFrame(output.frames, i);
    writeFileAtomic(file, encodePngRgb(rgb, output.frames.width, output.frames.height), 0o644);
    paths.push(file);
    events.progress({ stage: 'encode', done: i + 1, total: output.frames.count });
  }
  events.stageEnd('encode');
  return {
    output_path: null,
    preview_paths: paths,
    frame_count: output.frames.count,
    width: output.frames.width,
    height: output.frames.height,
    ...rate(info.video.frameRate, input.count),
    codec: null,
    has_audio: false,
  };
}

function rate(frameRate: Rational, frameCount: number): Pick<JobResult, 'frame_rate' | 'fps' | 'duration_s'> {
  return {
    frame_rate: `${frameRate.num}/${frameRate.den}`,
    fps: frameRate.num / frameRate.den,
    duration_s: (frameCount * frameRate.den) / frameRate.num,
  };
}

function rawFramesIntact(frames: RawFrames): boolean {
  try {
    return fs.statSync(frames.path).size === frames.width * frames.height * 3 * frames.count && frames.count > 0;
  } catch {
    return false;
  }
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new DOMException(`job aborted: ${signal.reason instanceof Error ? signal.reason.message : 'canceled'}`, 'AbortError');
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function freshDir(dir: string): string {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
