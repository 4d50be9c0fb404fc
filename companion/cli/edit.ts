// `tokenflow edit <video> --prompt ... -o out.mov`: one TokenFlow edit without the daemon: a
// job's stages (jobs/runner.ts: probe -> extract the range -> pipeline, in this process ->
// encode at the source's size and frame rate) without the queue. A progress bar (stage, step,
// ETA) goes to stderr, and the time of every stage is printed at the end. The output appears
// only where -o says, whole or not at all. Ctrl-C stops between two model calls (saying so at
// once) and leaves nothing behind.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_NEGATIVE_PROMPT, DEFAULT_SOURCE_PROMPT, type JobRequest, type JobResult, type Stage } from '../../shared/jobs.ts';
import type { JobParameters } from '../../shared/parameters.ts';
import { TICKS_PER_SECOND, ticksFromSeconds } from '../../shared/ticks.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import type { MediaInfo, OutputCodec } from '../media/types.ts';
import { modelFromEnv } from '../config.ts';
import { ProgressTracker } from '../jobs/progress.ts';
import type { EditRun, RunnerEvents } from '../jobs/runner.ts';
import { watchChildren } from '../util/child_registry.ts';
import type { EditClipResult, TextPrompts } from '../pipeline/edit_clip.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { parameterHelp, parameterOptions, parametersFromOptions } from './parameter_options.ts';
import { stderrProgress, type ProgressSink } from './progress_bar.ts';
import { providerChoice, providerHelp, providerOptions, type ProviderChoice } from './provider_options.ts';

const help = `Usage: tokenflow edit <video> --prompt TEXT -o OUT.mov [options]

Edits a video (or a range of it) with TokenFlow, without the daemon, and writes the result
at the source's size, frame rate and frame count.

Options:
  --prompt TEXT            what the edited video shows (required)
  -o, --output FILE        where to write the result (.mov; .mp4 also for --codec h264)
  --start T, --end T       the range to edit: seconds (e.g. 1.5) or Premiere ticks with a
                           "t" suffix (e.g. 381024000000t); default the whole video
  --model DIR|ID           diffusers folder, \`tiny-sd15\` or a hub id in the HF cache
                           (default TOKENFLOW_MODEL, else SD 2.1-base / SD 1.5 or another
                           installed model; see \`tokenflow models list\`)
  --source-prompt TEXT     describes the source clip, used for the inversion (default "")
  --negative-prompt TEXT   default "${DEFAULT_NEGATIVE_PROMPT}"
${parameterHelp()}
  --codec prores|h264      ProRes 422 HQ (default) or H.264
  --audio                  include the source audio of the range
  --threads N              CPU threads for ONNX Runtime (default: all cores)
${providerHelp("the platform's order")}
  -h, --help               this help

Environment: TOKENFLOW_MODEL (default model), TOKENFLOW_CACHE_DIR (caches, default
<data folder>/cache), TOKENFLOW_INVERSION_CACHE_GB (inversion cache bound, default 5),
TOKENFLOW_PROVIDERS, TOKENFLOW_PRECISION.
A second prompt on the same range, model and settings reuses the cached inversion.`;

export interface HeadlessEditOptions extends TextPrompts {
  input: string;
  output: string;
  model: string;
  parameters: JobParameters;
  /** Range in ticks; undefined = from the start / to the end. */
  startTicks?: bigint;
  endTicks?: bigint;
  codec: OutputCodec;
  audio: boolean;
  threads?: number;
  /** Providers and precision from the command line (default: the environment's). */
  runtime?: ProviderChoice;
  signal?: AbortSignal;
  /** Progress lines/bar and timings go here (default stderr). */
  progress?: ProgressSink;
}

export interface HeadlessEditResult {
  /** As a job's: `output_path` is where -o says. */
  result: JobResult;
  edit: EditClipResult;
  /** Seconds per stage. */
  timings: Partial<Record<Stage | 'text', number>>;
  totalSeconds: number;
}

/**
 * A job's stages (jobs/runner.ts) without the queue: the settings built and checked as the daemon
 * does at submit, the frames in a temporary work folder removed at the end, the pipeline in this
 * process, the render staged beside the output and renamed into place.
 */
export async function runHeadlessEdit(opts: HeadlessEditOptions): Promise<HeadlessEditResult> {
  const media = await import('../media/index.ts');
  const { runJob } = await import('../jobs/runner.ts');
  const { createPipeline } = await import('../pipeline/tokenflow.ts');
  const { checkJobSettings } = await import('../pipeline/settings_check.ts');
  const sink = opts.progress ?? stderrProgress();
  const startedAll = performance.now();

  const input = path.resolve(opts.input);
  const output = path.resolve(opts.output);
  // Any spelling of the input (a symlink to it, a hard link, `..`) is the input.
  if (output === input || (await media.isSameFile(output, input))) throw new UsageError(`the output ${output} is the input file (the same file by another name)`);
  const outDir = path.dirname(output);
  if (!fs.existsSync(outDir) || !fs.statSync(outDir).isDirectory()) throw new Error(`the output folder ${outDir} does not exist`);
  const info = await media.probe(input, { signal: opts.signal });
  const job = headlessJob(input, opts, info);
  // Settings that cannot work fail before any frame is extracted.
  await checkJobSettings(job.settings);
  // encodeVideo refuses to write beside the source media (a daemon rule): encode into a hidden
  // folder next to the output and rename from there, which is atomic on the same disk.
  // ffmpeg ends with this process, even one killed with -9, and the watch then removes the
  // temporary folders (on Windows the system ends ffmpeg; the folders stay, see the README).
  const watch = watchChildren();
  const staging = makeStaging(outDir);
  watch?.removeOnDeath(staging);
  let work: string;
  try {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-edit-'));
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    watch?.forgetFolder(staging);
    throw err;
  }
  watch?.removeOnDeath(work);
  const staged = path.join(staging, path.basename(output));
  let edit: EditClipResult | undefined;
  const events = headlessEvents(sink, opts.parameters.steps);
  try {
    const result = await runJob({
      job,
      jobDir: work,
      outputDir: staging,
      outputPath: staged,
      pipelines: createPipeline({ runtime: { threads: opts.threads, ...opts.runtime }, checkpoint: false, onResult: (r) => (edit = r) }),
      media,
      signal: opts.signal ?? new AbortController().signal,
      events,
    }).catch((err: unknown) => {
      // The staging folder is an implementation detail: name the file the user asked for.
      if (events.stage() === 'encode' && err instanceof media.MediaError && err.code === 'disk_full') {
        throw new media.MediaError('disk_full', `no space left on the device of "${output}" while writing the render (disk_full)`, { path: output, cause: err });
      }
      throw err;
    });
    if (!edit) throw new Error('the pipeline returned no edit statistics');
    // Checked again at the last moment: the input may have been linked there meanwhile.
    if (await media.isSameFile(output, input)) throw new UsageError(`the output ${output} is the input file (the same file by another name)`);
    fs.renameSync(staged, output);
    sink.done();
    const t = edit.stats.timingsMs;
    // The pipeline's own clock for its stages.
    const timings = { ...events.timings, text: t.text / 1000, invert: t.invert / 1000, edit: (t.editLoad + t.edit) / 1000, decode: t.decode / 1000 };
    return { result: { ...result, output_path: output }, edit, timings, totalSeconds: (performance.now() - startedAll) / 1000 };
  } catch (err) {
    sink.done();
    throw err;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(staging, { recursive: true, force: true });
    watch?.forgetFolder(work);
    watch?.forgetFolder(staging);
  }
}

/** The job `tokenflow edit` runs: its request, and the settings the daemon would resolve from it. */
function headlessJob(input: string, opts: HeadlessEditOptions, info: MediaInfo): EditRun {
  const request: JobRequest = {
    source_path: input,
    range: { start_ticks: String(opts.startTicks ?? 0n), end_ticks: String(opts.endTicks ?? BigInt(info.video.durationTicks)) },
    prompt: opts.prompt,
    negative_prompt: opts.negative_prompt,
    source_prompt: opts.source_prompt,
    parameters: opts.parameters,
    model: opts.model,
    output_kind: opts.audio ? 'video+audio' : 'video',
    codec: opts.codec,
    preview_only: false,
  };
  return { id: randomUUID(), request, settings: resolveJobSettings(request, undefined) };
}

/** The runner's events as the progress bar, log lines and the seconds of the media stages. */
function headlessEvents(sink: ProgressSink, steps: number): RunnerEvents & { timings: HeadlessEditResult['timings']; stage(): Stage | null } {
  const tracker = new ProgressTracker();
  const timings: HeadlessEditResult['timings'] = {};
  let current: Stage | null = null;
  return {
    timings,
    stage: () => current,
    stageStart: (stage) => {
      current = stage;
      tracker.start(stage);
    },
    progress: (p) => {
      const detail = p.stage === 'edit' && p.total > 0 ? `step ${Math.min(steps, Math.floor((p.done * steps) / p.total) + 1)}/${steps}` : '';
      sink.update(p.stage, p.done, p.total, tracker.update(p).eta_s, detail);
    },
    stageEnd: (stage) => {
      const seconds = tracker.finish(stage);
      // The pipeline's stages are timed by the pipeline itself (its result's statistics).
      if (stage === 'probe' || stage === 'extract' || stage === 'encode') timings[stage] = seconds;
    },
    stageSkipped: (stage) => tracker.skip(stage),
    preview: () => {},
    log: (level, message) => {
      if (level !== 'debug') sink.line(message);
    },
  };
}

/** The hidden staging folder beside the output; a folder that cannot take it is named plainly. */
function makeStaging(outDir: string): string {
  try {
    return fs.mkdtempSync(path.join(outDir, '.tokenflow-edit-'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why: Record<string, string> = {
      EROFS: 'it is on a read-only file system',
      EACCES: 'permission denied',
      EPERM: 'permission denied',
      ENOSPC: 'no space left on its device (disk_full)',
      EDQUOT: 'the disk quota is used up (disk_full)',
    };
    throw new Error(`cannot write to the output folder ${outDir}: ${code && why[code] ? why[code] : (err as Error).message}`, { cause: err });
  }
}

/** --codec: the codecs `tokenflow edit` writes. */
function outputCodec(text: string): OutputCodec {
  if (text !== 'prores' && text !== 'h264') throw new UsageError(`--codec must be prores or h264, got "${text}"`);
  return text;
}

/** `1.5` (seconds) or `381024000000t` (ticks). */
export function parseTime(text: string, what: string): bigint {
  const ticks = /^(\d{1,30})t$/.exec(text.trim());
  if (ticks) return BigInt(ticks[1]!);
  try {
    return ticksFromSeconds(text);
  } catch {
    throw new UsageError(`${what} must be seconds (e.g. 1.5) or ticks with a "t" suffix (e.g. ${TICKS_PER_SECOND}t), got "${text}"`);
  }
}

export function printTimings(result: HeadlessEditResult, log: (line: string) => void = (l) => console.error(l)): void {
  const t = result.timings;
  const order: Array<[string, number | undefined]> = [
    ['probe', t.probe], ['extract', t.extract], ['text', t.text], ['invert', t.invert],
    ['edit', t.edit], ['decode', t.decode], ['encode', t.encode],
  ];
  const frames = result.result.frame_count;
  const secs = (v: number) => (v < 1 ? v.toFixed(2) : v.toFixed(1));
  log(`timings: ${order.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${secs(v!)} s`).join(', ')}; total ${result.totalSeconds.toFixed(1)} s ` +
    `(${(result.totalSeconds / frames).toFixed(2)} s per frame)${result.edit.cacheHit ? '; inversion from the cache' : ''}`);
  const s = result.edit.stats;
  log(`UNet evaluations: inversion ${s.invertUnetEvaluations}, edit ${s.editUnetEvaluations} (${s.editUnetCalls} calls)`);
}

/**
 * Without --model or TOKENFLOW_MODEL: the model the daemon would pick (SD 2.1-base or SD 1.5 if
 * installed, else another installed one). Only the bundled test model is never picked silently
 * here: an hour-long edit with random weights helps nobody.
 */
async function installedDefaultModel(): Promise<string> {
  const { BUNDLED_MODEL_ID, chooseDefaultModel } = await import('../hub/catalog.ts');
  const chosen = await chooseDefaultModel();
  if (chosen === BUNDLED_MODEL_ID) {
    throw new Error(`no Stable Diffusion model is installed: run \`tokenflow models pull stabilityai/stable-diffusion-2-1-base\`, pass --model DIR, or --model ${BUNDLED_MODEL_ID} to try the bundled test model (random weights)`);
  }
  console.error(`model: ${chosen} (the installed default; --model to choose another)`);
  return chosen;
}

export const command: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      prompt: { type: 'string' },
      output: { type: 'string', short: 'o' },
      start: { type: 'string', parse: parseTime },
      end: { type: 'string', parse: parseTime },
      model: { type: 'string' },
      'source-prompt': { type: 'string', default: DEFAULT_SOURCE_PROMPT },
      'negative-prompt': { type: 'string', default: DEFAULT_NEGATIVE_PROMPT },
      ...parameterOptions,
      codec: { type: 'string', parse: outputCodec, default: 'prores' },
      audio: { type: 'boolean' },
      threads: { type: 'int', min: 1, max: 256 },
      ...providerOptions,
    }, Infinity);
    if (positionals.length !== 1) throw new UsageError(positionals.length ? `give one video, got ${positionals.length} arguments` : 'missing <video>');
    const { output, codec, start: startTicks, end: endTicks } = values;
    const prompt = values.prompt?.trim();
    if (!prompt) throw new UsageError('--prompt is required');
    if (!output) throw new UsageError('-o OUT.mov is required');
    const ext = path.extname(output).toLowerCase();
    if (ext !== '.mov' && !(codec === 'h264' && ext === '.mp4')) {
      throw new UsageError(`-o ${output}: ${codec === 'prores' ? 'ProRes needs a .mov file' : 'H.264 needs a .mov or .mp4 file'}`);
    }
    if (startTicks !== undefined && endTicks !== undefined && endTicks <= startTicks) throw new UsageError('--end must be after --start');
    const parameters = parametersFromOptions(values);
    const model = values.model ?? modelFromEnv() ?? await installedDefaultModel();

    const controller = new AbortController();
    const onSignal = () => {
      // A model call cannot be interrupted (up to tens of seconds on a CPU): say so at once.
      process.stderr.write('\nstopping after the current step…\n');
      controller.abort(new DOMException('interrupted (Ctrl-C)', 'AbortError'));
    };
    process.once('SIGINT', onSignal);
    // Owner-only files, as the daemon writes them: the extracted frames, latents and inversion
    // cache hold the user's clip. The render gets the user's usual mode back once it is there.
    const userUmask = process.umask(0o077);
    try {
      const result = await runHeadlessEdit({
        input: positionals[0]!,
        output,
        model,
        prompt,
        negative_prompt: values['negative-prompt'],
        source_prompt: values['source-prompt'],
        parameters,
        startTicks,
        endTicks,
        codec,
        audio: values.audio,
        threads: values.threads,
        runtime: providerChoice(values),
        signal: controller.signal,
      });
      printTimings(result);
      const r = result.result;
      fs.chmodSync(r.output_path!, 0o666 & ~userUmask);
      console.log(`wrote ${r.output_path}: ${r.frame_count} frames, ${r.width}x${r.height}, ${r.frame_rate} fps, ${r.codec}${r.has_audio ? ' + audio' : ''} ` +
        `(${r.duration_s.toFixed(2)} s)`);
      return 0;
    } catch (err) {
      if (controller.signal.aborted) {
        console.error('tokenflow edit: interrupted; nothing was written');
        return 130;
      }
      throw err;
    } finally {
      process.umask(userUmask);
      process.off('SIGINT', onSignal);
    }
  },
};
