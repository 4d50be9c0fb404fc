// Runs pipeline modules in worker threads and turns the workers' messages back into hook
// calls. Workers are kept and reused between jobs (a pipeline loads its models once); one
// that crashed, or did not stop within the grace period after an abort, is terminated and
// replaced, so a cancel always completes.
import type { Worker } from 'node:worker_threads';
import { PipelineError, type PipelineHooks, type PipelineInput, type PipelineOutput } from '../pipeline/interface.ts';
import type { FromWorker, PipelineWorkerData, SerializedError, ToWorker } from '../pipeline/worker_messages.ts';
import { moduleUrl } from '../layout.ts';
import { startModuleWorker } from '../util/worker.ts';

const WORKER_ENTRY = moduleUrl('pipeline_worker');

/** The product's pipeline module: the TokenFlow edit. */
export const DEFAULT_PIPELINE_MODULE = moduleUrl('tokenflow_pipeline');

export interface PipelineHostOptions {
  /** How long an aborted worker may take to stop by itself before it is terminated (default 2000 ms). */
  abortGraceMs?: number;
}

export class PipelineHost {
  private readonly idle: Worker[] = [];
  private readonly busy = new Set<Worker>();
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
    const worker = this.idle.pop() ?? this.spawn();
    worker.ref();
    this.busy.add(worker);
    const runId = this.nextRunId++;

    return new Promise<PipelineOutput>((resolve, reject) => {
      let settled = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const settle = (healthy: boolean, fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(graceTimer);
        signal.removeEventListener('abort', onAbort);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        this.release(worker, healthy);
        fn();
      };
      const onAbort = () => {
        worker.postMessage({ type: 'abort', runId, reason: reasonText(signal) } satisfies ToWorker);
        graceTimer = setTimeout(() => settle(false, () => reject(abortError(signal))), this.options.abortGraceMs ?? 2000);
      };
      const onMessage = (message: FromWorker) => {
        if (settled || message.runId !== runId) return;
        switch (message.type) {
          case 'progress':
            hooks.onProgress(message.stage, message.done, message.total, message.doneBefore);
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
      const onError = (err: Error) => {
        settle(false, () => reject(new PipelineError('pipeline_failed', `pipeline worker crashed: ${err.message}`, { cause: err })));
      };
      const onExit = (code: number) => {
        settle(false, () =>
          reject(
            signal.aborted
              ? abortError(signal)
              : new PipelineError('pipeline_failed', `pipeline worker exited unexpectedly (exit code ${code}; likely out of memory)`),
          ),
        );
      };
      signal.addEventListener('abort', onAbort, { once: true });
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ type: 'run', runId, input } satisfies ToWorker);
    });
  }

  /** Terminates every worker (running runs reject). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }

  private spawn(): Worker {
    const workerData: PipelineWorkerData = { pipelineModule: this.pipelineModule.href };
    const worker = startModuleWorker(WORKER_ENTRY, { workerData });
    // An idle worker's own errors/exit are handled here; a busy one's by its run.
    worker.on('error', () => this.discard(worker));
    worker.on('exit', () => this.discard(worker));
    return worker;
  }

  private release(worker: Worker, healthy: boolean): void {
    this.busy.delete(worker);
    if (!healthy || this.closed) {
      this.discard(worker);
      void worker.terminate();
      return;
    }
    // An idle worker must not keep the daemon's process alive.
    worker.unref();
    this.idle.push(worker);
  }

  private discard(worker: Worker): void {
    const i = this.idle.indexOf(worker);
    if (i >= 0) this.idle.splice(i, 1);
  }
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
