// Runs in the pipeline process (a child of the daemon, see host.ts): loads the
// pipeline module named on the command line once, then runs one job's pipeline per `run`
// message, reporting progress, previews, logs and the result over the IPC channel. Heavy
// compute here never blocks the daemon's event loop, and the daemon can kill this process at
// any moment (a cancel that does not stop in time), even inside a native ONNX Runtime call.
import fs from 'node:fs';
import type { Pipeline, PipelineModule } from '../pipeline/interface.ts';
import { PARENT_SILENT_EXIT_CODE, type FromWorker, type SerializedError, type ToWorker } from './messages.ts';
import { SilenceWatch } from './silence_watch.ts';

if (!process.send) throw new Error('pipeline_process/entry.ts must run as a forked child with an IPC channel');
const pipelineModule = process.argv[2]!;
const controllers = new Map<number, AbortController>();
let pipeline: Promise<Pipeline> | null = null;

function post(message: FromWorker): void {
  process.send!(message);
}

function serialize(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, code: typeof code === 'string' ? code : null, stack: err.stack ?? null };
  }
  return { name: 'Error', message: String(err), code: null, stack: null };
}

/** Exits once the parent has been silent for `limitMs` of listening (messages.ts); stop() ends it. */
function watchParent(limitMs: number): { heard(): void; stop(): void } {
  const watch = new SilenceWatch(limitMs, performance.now());
  const timer = setInterval(() => {
    if (!watch.tick(performance.now())) return;
    // Exiting, not aborting: an abort would still let a model call that is under way finish
    // and its result be written. The parent's host reports the exit code.
    fs.writeSync(2, `pipeline process ${process.pid}: no word from its parent for ${limitMs} ms; stopping its run before it writes more\n`);
    process.exit(PARENT_SILENT_EXIT_CODE);
  }, watch.tickMs);
  return { heard: () => watch.heard(), stop: () => clearInterval(timer) };
}

let parentWatch: { heard(): void; stop(): void } | null = null;

async function run({ runId, input, silenceLimitMs }: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const controller = new AbortController();
  controllers.set(runId, controller);
  if (silenceLimitMs !== null) parentWatch = watchParent(silenceLimitMs);
  try {
    if (!pipeline) {
      pipeline = import(pipelineModule).then((mod: PipelineModule) => mod.createPipeline());
      // A module that failed to load is tried again on the next run.
      pipeline.catch(() => (pipeline = null));
    }
    const output = await (await pipeline).run(input, {
      signal: controller.signal,
      onProgress: (progress) => post({ runId, type: 'progress', progress }),
      onPreview: (preview) => post({ runId, type: 'preview', preview }),
      onLog: (level, text) => post({ runId, type: 'log', level, message: text }),
    });
    post({ runId, type: 'done', output });
  } catch (err) {
    post({ runId, type: 'error', error: serialize(err) });
  } finally {
    controllers.delete(runId);
    parentWatch?.stop();
    parentWatch = null;
  }
}

process.on('message', (message: ToWorker) => {
  parentWatch?.heard();
  if (message.type === 'beat') return;
  if (message.type === 'abort') controllers.get(message.runId)?.abort(new DOMException(message.reason, 'AbortError'));
  else void run(message);
});
// The daemon is gone (it exited, or was killed): nothing would read the results. Noticed as
// soon as this process's event loop is free (between two model calls); inside a model call the
// parent-death watch (util/child_watch.ts) kills this process at once, and failing that the
// next daemon's start does (util/child_registry.ts).
process.on('disconnect', () => process.exit(0));
