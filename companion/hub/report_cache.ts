// Model folder checks for the daemon: inspectModel reads every config, the tokenizer vocabulary
// and every safetensors header (hundreds of milliseconds of parsing for a real model), so the
// daemon runs it in a worker thread (one, reused) and only once per folder identity — the folder's path and
// the size and mtime of every file in it (symlinks of the Hugging Face cache followed). A burst
// of submissions shares one identity walk and at most one inspection; editing, replacing or
// re-downloading a file changes the identity and the next request inspects again.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { moduleUrl } from '../layout.ts';
import { startModuleWorker } from '../util/worker.ts';
import type { ModelReport } from './validate.ts';

export type ModelInspector = (dir: string) => Promise<ModelReport>;

/** Levels below the model folder whose files make up its identity (component folders). */
const IDENTITY_DEPTH = 2;

/** An inspector that answers from its cache while the folder's identity is unchanged. */
export function cachedInspector(inspect: ModelInspector): ModelInspector {
  const reports = new Map<string, { identity: string; report: Promise<ModelReport> }>();
  const walks = new Map<string, Promise<string>>();
  return async (modelDir) => {
    const dir = path.resolve(modelDir);
    let walk = walks.get(dir);
    if (!walk) {
      walk = folderIdentity(dir).finally(() => walks.delete(dir));
      walks.set(dir, walk);
    }
    const identity = await walk;
    const cached = reports.get(dir);
    if (cached?.identity === identity) return cached.report;
    const report = inspect(dir);
    reports.set(dir, { identity, report });
    // A failed inspection (not a report with problems: the inspection itself) is not kept.
    report.catch(() => {
      if (reports.get(dir)?.report === report) reports.delete(dir);
    });
    return report;
  };
}

/** Path, size and mtime of every file in the folder and its component folders, sorted. */
export async function folderIdentity(dir: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (folder: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(folder);
    } catch {
      parts.push(`${folder}:unreadable`);
      return;
    }
    await Promise.all(
      names.map(async (name) => {
        const file = path.join(folder, name);
        try {
          const st = await stat(file);
          if (st.isDirectory()) {
            if (depth < IDENTITY_DEPTH) await walk(file, depth + 1);
          } else {
            parts.push(`${file}:${st.size}:${st.mtimeMs}:${st.ino}`);
          }
        } catch {
          parts.push(`${file}:missing`);
        }
      }),
    );
  };
  await walk(dir, 1);
  return parts.sort().join('\n');
}

/**
 * inspectModel in a worker thread, so that its parsing never blocks the daemon's event loop. One
 * thread serves every check, one at a time in its order (starting a thread costs more than most
 * checks): started at the first check, it does not keep the process alive while idle, and one
 * that died (its failure rejects the checks it had) is replaced at the next check.
 */
export class InspectWorker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { dir: string; resolve: (r: ModelReport) => void; reject: (e: Error) => void }>();
  /** Threads started so far. */
  started = 0;

  inspect(dir: string): Promise<ModelReport> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<ModelReport>((resolve, reject) => {
      this.pending.set(id, { dir, resolve, reject });
      worker.ref();
      worker.postMessage({ id, dir } satisfies InspectRequest);
    });
  }

  /** Ends the thread (checks in progress are rejected); the next check starts another. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = startModuleWorker(moduleUrl('model_inspect_worker'));
    this.worker = worker;
    this.started++;
    worker.on('message', ({ id, report, error }: InspectAnswer) => {
      const request = this.pending.get(id);
      if (!request) return;
      this.pending.delete(id);
      if (report) request.resolve(report);
      else request.reject(new Error(`checking the model folder ${request.dir} failed: ${error}`));
      if (this.pending.size === 0) worker.unref();
    });
    const fail = (why: string) => {
      if (this.worker === worker) this.worker = null;
      for (const [id, request] of this.pending) {
        this.pending.delete(id);
        request.reject(new Error(`checking the model folder ${request.dir} failed: ${why}`));
      }
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`its worker exited with code ${code}`));
    return worker;
  }
}

export interface InspectRequest {
  id: number;
  dir: string;
}

export interface InspectAnswer {
  id: number;
  report?: ModelReport;
  error?: string;
}

const shared = new InspectWorker();

/** inspectModel in the process's shared worker thread (see InspectWorker). */
export function inspectOffThread(dir: string): Promise<ModelReport> {
  return shared.inspect(dir);
}
