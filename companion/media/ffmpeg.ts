// Runs ffmpeg and ffprobe: spawn with an argument array (never a shell), progress from
// `-progress pipe:1`, the tail of stderr kept for error messages, AbortSignal kills the process.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { childSpawnOptions, trackChild } from '../util/child_registry.ts';
import { MediaError, abortError } from './errors.ts';
import { resolveBinaries } from './binaries.ts';
import type { MediaErrorCode } from './types.ts';

/** How much of stderr is kept for error messages. */
const STDERR_TAIL_BYTES = 16 * 1024;
/** How many stderr lines an error message quotes. */
const MESSAGE_LINES = 6;
/**
 * Messages after which a run cannot succeed. ffmpeg 4 keeps encoding to the end after a failed
 * write, so the process is stopped at once instead.
 */
const FATAL_STDERR = /No space left on device|Disk quota exceeded/i;
const CRASH_SIGNALS = new Set<NodeJS.Signals>(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGABRT', 'SIGFPE']);

export interface RunOptions {
  /** What the run is doing, for messages: 'probing', 'extracting frames from'... */
  what: string;
  /** The file the run is about; named in error messages. */
  file?: string;
  signal?: AbortSignal;
  /** Keep stdout and return it (ffprobe output). Otherwise stdout is parsed as -progress blocks. */
  collectStdout?: boolean;
  /** One call per `-progress` block (key=value lines ending with progress=continue|end). */
  onProgress?: (fields: Record<string, string>) => void;
  /** Which tool the binary is (named in messages); default: the binary's file name. */
  tool?: 'ffmpeg' | 'ffprobe';
}

export interface RunResult {
  stdout: string;
  /** The last STDERR_TAIL_BYTES of stderr. */
  stderr: string;
}

/**
 * Input options and URL for a local file: `-protocol_whitelist file` and an explicit `file:`
 * URL, so a name like `concat:a|b`, `http://...`, `-y` or an HLS playlist with remote entries
 * can never make ffmpeg open anything but local files. The path is made absolute first.
 */
export function fileInput(path: string): string[] {
  return ['-protocol_whitelist', 'file', '-i', fileUrl(path)];
}

/** `file:` + the absolute path (ffmpeg's file protocol takes the rest verbatim, no %-decoding). */
export function fileUrl(path: string): string {
  return `file:${resolve(path)}`;
}

export function runFfmpeg(args: string[], options: RunOptions): Promise<RunResult> {
  const { ffmpeg } = resolveBinaries();
  return runProcess(ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], { ...options, tool: 'ffmpeg' });
}

export function runFfprobe(args: string[], options: RunOptions): Promise<RunResult> {
  const { ffprobe } = resolveBinaries();
  return runProcess(ffprobe, ['-hide_banner', '-loglevel', 'error', ...args], { ...options, collectStdout: true, tool: 'ffprobe' });
}

/** Spawns `binary` with `args`; resolves on exit 0, rejects with a MediaError otherwise. */
export function runProcess(binary: string, args: string[], options: RunOptions): Promise<RunResult> {
  const { signal } = options;
  const subject = options.file ? ` "${options.file}"` : '';
  if (signal?.aborted) return Promise.reject(abortError(`${options.what}${subject}`, signal));

  return new Promise<RunResult>((resolvePromise, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false, windowsHide: true, ...childSpawnOptions() });
    trackChild(child, binary);
    const stdoutChunks: Buffer[] = [];
    let stderr = '';
    let progressBuffer = '';
    let progressFields: Record<string, string> = {};
    let spawnError: NodeJS.ErrnoException | undefined;
    let aborted = false;

    const onAbort = () => {
      aborted = true;
      // SIGKILL: the caller discards whatever was being written, so there is nothing to flush.
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      if (options.collectStdout) {
        stdoutChunks.push(chunk);
        return;
      }
      progressBuffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = progressBuffer.indexOf('\n')) >= 0) {
        const line = progressBuffer.slice(0, newline).trim();
        progressBuffer = progressBuffer.slice(newline + 1);
        const eq = line.indexOf('=');
        if (eq <= 0) continue;
        const key = line.slice(0, eq);
        progressFields[key] = line.slice(eq + 1);
        if (key === 'progress') {
          const fields = progressFields;
          progressFields = {};
          options.onProgress?.(fields);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stderr += text;
      if (stderr.length > STDERR_TAIL_BYTES * 2) stderr = stderr.slice(-STDERR_TAIL_BYTES);
      if (FATAL_STDERR.test(text)) child.kill('SIGKILL');
    });
    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      stderr = stderr.slice(-STDERR_TAIL_BYTES);
      if (aborted) {
        reject(abortError(`${options.what}${subject}`, signal));
      } else if (spawnError) {
        reject(
          new MediaError('binary', `cannot run ${binary} (${spawnError.message}); ${spawnFailureAdvice(spawnError)}`, {
            cause: spawnError,
          }),
        );
      } else if (code === 0) {
        resolvePromise({ stdout: Buffer.concat(stdoutChunks).toString('utf8'), stderr });
      } else {
        reject(processFailure(binary, code, killedBy, stderr, options));
      }
    });
  });
}

/**
 * What to do when the binary cannot be started. macOS answers EBADARCH (errno 86) for an
 * Intel build without Rosetta 2 (the packaged companion's ffmpeg on Apple silicon).
 */
export function spawnFailureAdvice(err: NodeJS.ErrnoException, platform: NodeJS.Platform = process.platform): string {
  if (Math.abs(err.errno ?? 0) === 86 && platform === 'darwin') {
    return 'it is an Intel (x86-64) build: install Rosetta 2 with `softwareupdate --install-rosetta --agree-to-license`, or set TOKENFLOW_FFMPEG / TOKENFLOW_FFPROBE to a native ffmpeg';
  }
  return 'check the path, or set TOKENFLOW_FFMPEG / TOKENFLOW_FFPROBE';
}

/** The error for a non-zero exit: code from what stderr says, message quoting its last lines. */
export function processFailure(
  binary: string,
  code: number | null,
  killedBy: NodeJS.Signals | null,
  stderr: string,
  options: Pick<RunOptions, 'what' | 'file' | 'tool'>,
): MediaError {
  const name = options.tool ?? binary.replace(/^.*[\\/]/, '').replace(/\.exe$/i, '');
  const lines = stderrLines(stderr).slice(-MESSAGE_LINES);
  const subject = options.file ? ` "${options.file}"` : '';
  if (killedBy && CRASH_SIGNALS.has(killedBy)) {
    // Some static builds crash on some inputs/CPUs (e.g. MPEG-TS on some AMD EPYC machines).
    const envName = options.tool === 'ffprobe' ? 'TOKENFLOW_FFPROBE' : 'TOKENFLOW_FFMPEG';
    return new MediaError(
      'binary',
      `${name} crashed (${killedBy}) while ${options.what}${subject}; this ${name} build (${binary}) cannot read it: set ${envName} to another ${name}`,
      { path: options.file },
    );
  }
  const detail = lines.length ? `: ${lines.join(' | ')}` : '';
  const errorCode: MediaErrorCode = killedBy === 'SIGXFSZ' ? 'disk_full' : classifyStderr(stderr);
  // Killed by us after a fatal message: the message is the reason, not the signal.
  const how = killedBy && !(killedBy === 'SIGKILL' && FATAL_STDERR.test(stderr)) ? `was killed by ${killedBy}` : `failed (exit ${code ?? 'killed'})`;
  return new MediaError(errorCode, `${name} ${how} while ${options.what}${subject}${detail}`, { path: options.file });
}

/** Maps ffmpeg/ffprobe messages to an error code. */
export function classifyStderr(stderr: string): MediaErrorCode {
  if (/No space left on device|Disk quota exceeded|File too large/i.test(stderr)) return 'disk_full';
  if (/Permission denied/i.test(stderr)) return 'permission';
  if (/Unknown encoder|Encoder not found|encoder .* not found/i.test(stderr)) return 'encoder';
  if (/No such file or directory/i.test(stderr)) return 'not_found';
  if (
    /moov atom not found|partial file|Invalid data found|ended prematurely|Invalid NAL|error while decoding|corrupt|truncat|EBML header parsing failed/i.test(
      stderr,
    )
  ) {
    return 'corrupt';
  }
  return 'ffmpeg';
}

/** Non-empty stderr lines without ffmpeg's "[h264 @ 0x55d0c...]" context prefixes. */
export function stderrLines(stderr: string): string[] {
  return stderr
    .split(/\r?\n/)
    .map((line) => line.replace(/\[[^\]]*@ 0x[0-9a-f]+\]\s*/gi, '').trim())
    .filter(Boolean);
}
