// Starts a worker thread running a TypeScript module. Loader hooks registered in the main
// thread are not inherited by workers on Node 20, so the worker imports tsx itself first.
import { Worker, type WorkerOptions } from 'node:worker_threads';

const bootstrap = `
const { workerData } = require('node:worker_threads');
import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.__tsModule); })
  .catch((err) => { setImmediate(() => { throw err; }); });
`;

export function startTsWorker(module: URL, options: WorkerOptions = {}): Worker {
  const workerData = { ...(options.workerData ?? {}), __tsModule: module.href };
  return new Worker(bootstrap, { ...options, eval: true, workerData });
}
