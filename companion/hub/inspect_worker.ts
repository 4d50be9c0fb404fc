// Worker thread of InspectWorker (report_cache.ts): inspects the model folder of each request
// and posts the report back, one request at a time in their order.
import { parentPort } from 'node:worker_threads';
import type { InspectAnswer, InspectRequest } from './report_cache.ts';
import { inspectModel } from './validate.ts';

let queue: Promise<void> = Promise.resolve();

parentPort!.on('message', ({ id, dir }: InspectRequest) => {
  queue = queue.then(async () => {
    let answer: InspectAnswer;
    try {
      answer = { id, report: await inspectModel(dir) };
    } catch (err) {
      answer = { id, error: err instanceof Error ? err.message : String(err) };
    }
    parentPort!.postMessage(answer);
  });
});
