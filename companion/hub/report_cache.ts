// Model folder checks for the daemon: inspectModel reads every config, the tokenizer vocabulary
// and every safetensors header (hundreds of milliseconds of parsing for a real model), so the
// daemon runs it in a worker thread and only once per folder identity — the folder's path and
// the size and mtime of every file in it (symlinks of the Hugging Face cache followed). A burst
// of submissions shares one identity walk and at most one inspection; editing, replacing or
// re-downloading a file changes the identity and the next request inspects again.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
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

/** inspectModel in a worker thread, so that its parsing never blocks the daemon's event loop. */
export function inspectOffThread(dir: string): Promise<ModelReport> {
  return new Promise((resolve, reject) => {
    const worker = startModuleWorker(moduleUrl('model_inspect_worker'), { workerData: { dir } });
    let answered = false;
    worker.once('message', (report: ModelReport) => {
      answered = true;
      resolve(report);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`checking the model folder ${dir} failed: its worker exited with code ${code}`));
    });
  });
}
