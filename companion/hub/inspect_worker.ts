// Worker thread of inspectOffThread (report_cache.ts): inspects one model folder and posts
// the report back.
import { parentPort, workerData } from 'node:worker_threads';
import { inspectModel } from './validate.ts';

const { dir } = workerData as { dir: string };
parentPort!.postMessage(await inspectModel(dir));
