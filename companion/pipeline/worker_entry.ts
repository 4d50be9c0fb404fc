// Runs in a worker thread: loads the pipeline module named in workerData once, then runs one
// job's pipeline per `run` message, reporting progress, previews, logs and the result. Heavy
// compute here never blocks the daemon's event loop (health and cancel stay responsive).
import { parentPort, workerData } from 'node:worker_threads';
import type { Pipeline, PipelineModule } from './interface.ts';
import type { FromWorker, PipelineWorkerData, SerializedError, ToWorker } from './worker_messages.ts';

const port = parentPort;
if (!port) throw new Error('worker_entry.ts must run in a worker thread');
const { pipelineModule } = workerData as PipelineWorkerData;
const controllers = new Map<number, AbortController>();
let pipeline: Promise<Pipeline> | null = null;

function post(message: FromWorker): void {
  port!.postMessage(message);
}

function serialize(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, code: typeof code === 'string' ? code : null, stack: err.stack ?? null };
  }
  return { name: 'Error', message: String(err), code: null, stack: null };
}

async function run({ runId, input }: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const controller = new AbortController();
  controllers.set(runId, controller);
  try {
    if (!pipeline) {
      pipeline = import(pipelineModule).then((mod: PipelineModule) => mod.createPipeline());
      // A module that failed to load is tried again on the next run.
      pipeline.catch(() => (pipeline = null));
    }
    const output = await (await pipeline).run(input, {
      signal: controller.signal,
      onProgress: (stage, done, total, doneBefore) => post({ runId, type: 'progress', stage, done, total, doneBefore }),
      onPreview: (preview) => post({ runId, type: 'preview', preview }),
      onLog: (level, text) => post({ runId, type: 'log', level, message: text }),
    });
    post({ runId, type: 'done', output });
  } catch (err) {
    post({ runId, type: 'error', error: serialize(err) });
  } finally {
    controllers.delete(runId);
  }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'abort') controllers.get(message.runId)?.abort(new DOMException(message.reason, 'AbortError'));
  else void run(message);
});
