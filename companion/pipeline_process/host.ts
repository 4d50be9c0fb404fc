// Runs pipeline modules in child processes (one run at a time each) and turns their messages
// back into hook calls. A process is kept and reused between jobs (a pipeline loads its models
// once); one that crashed, or did not stop within the grace period after an abort, is killed
// and replaced, so a cancel always completes. A process, not a worker thread: ONNX Runtime's
// `run` blocks its thread in native code, and terminating a worker thread in that state aborts
// the whole daemon (`terminate called after throwing an instance of 'Napi::Error'`), while
// SIGKILL to a child process is always safe.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PipelineError, type PipelineHooks, type PipelineInput, type PipelineOutput } from '../pipeline/interface.ts';
import { PARENT_SILENT_EXIT_CODE, type FromWorker, type SerializedError, type ToWorker } from './messages.ts';
import { childExecArgv, moduleUrl } from '../layout.ts';
import { childSpawnOptions, trackChild } from '../util/child_registry.ts';

const PROCESS_ENTRY = fileURLToPath(moduleUrl('pipeline_process'));

/** The product's pipeline module: the TokenFlow edit. */
export const DEFAULT_PIPELINE_MODULE = moduleUrl('tokenflow_pipeline');

export interface PipelineHostOptions {
  /** How long an aborted run may take to stop by itself before its process is killed (default 1000 ms). */
  abortGraceMs?: number;
  /**
   * A run's process stops by itself (exits, before its next write) when it hears nothing from
   * this process for this long (messages.ts), and this process beats 5 times as often. A farm
   * worker sets it below its job lock's duration: frozen, it loses the job to another worker.
   * Unset (the daemon): no limit; a daemon frozen or blocked is no reason to lose its job.
   */
  silenceLimitMs?: number;
}

/** A run ended because its process heard nothing from this one for silenceLimitMs. */
export class ParentSilentError extends PipelineError {
  constructor(limitMs: number) {
    super('pipeline_failed', `the pipeline process stopped its run: no word from this process for ${limitMs / 1000} s (frozen or blocked)`);
    this.name = 'ParentSilentError';
  }
}

export class PipelineHost {
  private readonly idle: ChildProcess[] = [];
  private readonly busy = new Set<ChildProcess>();
  private nextRunId = 1;
  private closed = false;

  constructor(
    readonly pipelineModule: URL,
    private readonly options: PipelineHostOptions = {},
  ) {}

  run(input: PipelineInput, hooks: PipelineHooks): Promise<PipelineOutput> {
    const { signal } = hooks;
    if (this.closed) return Promise.reject(new Error('the pipeline host is closed'));
    if (signal.aborted) return Promise.reject(abortError(signal));
    const child = this.idle.pop() ?? this.spawn();
    setRef(child, true);
    this.busy.add(child);
    const runId = this.nextRunId++;

    return new Promise<PipelineOutput>((resolve, reject) => {
      let settled = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const silenceLimitMs = this.options.silenceLimitMs ?? null;
      const beats = silenceLimitMs === null ? undefined : setInterval(() => send(child, { type: 'beat' }), silenceLimitMs / 5);
      const settle = (healthy: boolean, fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(graceTimer);
        clearInterval(beats);
        signal.removeEventListener('abort', onAbort);
        child.off('message', onMessage);
        child.off('exit', onExit);
        this.release(child, healthy);
        fn();
      };
      const onAbort = () => {
        send(child, { type: 'abort', runId, reason: reasonText(signal) });
        // Killed, not waited for: it may be inside a model call that takes many seconds. The
        // run rejects on its exit, so nothing it writes can land after the job has moved on.
        graceTimer = setTimeout(() => child.kill('SIGKILL'), this.options.abortGraceMs ?? 1000);
      };
      const onMessage = (message: FromWorker) => {
        if (settled || message.runId !== runId) return;
        switch (message.type) {
          case 'progress':
            hooks.onProgress(message.progress);
            break;
          case 'preview':
            hooks.onPreview(message.preview);
            break;
          case 'log':
            hooks.onLog(message.level, message.message);
            break;
          case 'done':
            settle(true, () => resolve(message.output));
            break;
          case 'error':
            settle(true, () => reject(signal.aborted ? abortError(signal) : revive(message.error)));
            break;
        }
      };
      const onExit = (code: number | null, killedBy: NodeJS.Signals | null) => {
        const how = killedBy ? `was killed by ${killedBy}` : `exited unexpectedly (exit code ${code})`;
        settle(false, () =>
          reject(
            signal.aborted
              ? abortError(signal)
              : code === PARENT_SILENT_EXIT_CODE && silenceLimitMs !== null
                ? new ParentSilentError(silenceLimitMs)
                : new PipelineError('pipeline_failed', `the pipeline process ${how}${killedBy === 'SIGKILL' ? '; likely out of memory' : ''}`),
          ),
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      child.on('message', onMessage);
      child.on('exit', onExit);
      send(child, { type: 'run', runId, input, silenceLimitMs });
    });
  }

  /** Kills every pipeline process and waits for them to exit (running runs reject). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    this.idle.length = 0;
    await Promise.all(all.map(killAndWait));
  }

  private spawn(): ChildProcess {
    const child = fork(PROCESS_ENTRY, [this.pipelineModule.href], {
      execArgv: childExecArgv(),
      // Structured clone, so previews' Uint8Arrays cross as bytes.
      serialization: 'advanced',
      // Its stdout goes to the daemon's stderr: the daemon's own stdout is its log of record.
      stdio: ['ignore', 2, 2, 'ipc'],
      ...childSpawnOptions(),
    });
    trackChild(child, 'node (pipeline)');
    // An idle process's own exit is handled here, a busy one's by its run. 'error' (a failed
    // spawn or send) is followed by 'exit' or needs nothing more.
    child.on('error', () => {});
    child.on('exit', () => this.discard(child));
    return child;
  }

  private release(child: ChildProcess, healthy: boolean): void {
    this.busy.delete(child);
    if (!healthy || this.closed) {
      this.discard(child);
      void killAndWait(child);
      return;
    }
    // An idle pipeline process must not keep the daemon's process alive.
    setRef(child, false);
    this.idle.push(child);
  }

  private discard(child: ChildProcess): void {
    const i = this.idle.indexOf(child);
    if (i >= 0) this.idle.splice(i, 1);
  }
}

function send(child: ChildProcess, message: ToWorker): void {
  // A process that died cannot take it; its 'exit' settles the run.
  if (child.connected) child.send(message, () => {});
}

function setRef(child: ChildProcess, ref: boolean): void {
  if (ref) {
    child.ref();
    child.channel?.ref();
  } else {
    child.unref();
    child.channel?.unref();
  }
}

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.ref(); // an idle one is unref'd: waiting for its exit must keep the daemon alive
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function reasonText(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
}

function abortError(signal: AbortSignal): DOMException {
  return new DOMException(`pipeline aborted: ${reasonText(signal)}`, 'AbortError');
}

function revive(error: SerializedError): Error {
  const err = error.code !== null ? new PipelineError(error.code, error.message) : new PipelineError('pipeline_failed', error.message);
  if (error.stack) err.stack = error.stack;
  return err;
}
