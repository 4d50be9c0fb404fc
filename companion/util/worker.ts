// Starts a worker thread running a companion module. From source the module is TypeScript:
// loader hooks registered in the main thread are not inherited by workers on Node 20, so the
// worker imports tsx itself first. Packaged, the module is already JavaScript.
import { Worker, type WorkerOptions } from 'node:worker_threads';

const tsBootstrap = `
const { workerData } = require('node:worker_threads');
import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.__tsModule); })
  .catch((err) => { setImmediate(() => { throw err; }); });
`;

export function startModuleWorker(module: URL, options: WorkerOptions = {}): Worker {
  if (!module.pathname.endsWith('.ts')) return new Worker(module, options);
  const workerData = { ...(options.workerData ?? {}), __tsModule: module.href };
  return new Worker(tsBootstrap, { ...options, eval: true, workerData });
}
