// Burst generator for bench/daemon.ts, in its own worker thread so the clients do not share the
// daemon's event loop: `submissions` POST /v1/jobs at once (one connection each, as separate
// panels or scripts would), while one client probes the authenticated health every 20 ms until
// the last submission is answered. Each request gives up after 30 s, like a client would.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface BurstConfig {
  port: number;
  token: string;
  submissions: number;
  /** The job request sent, with `{i}` in the prompt replaced by the submission's number. */
  request: object;
}

export interface BurstResult {
  /** ms from sending to the full answer, per submission that was answered. */
  submitLatencies: number[];
  healthLatencies: number[];
  statuses: Record<string, number>;
  /** Requests with no answer within 30 s, or cut off. */
  failures: number;
}

const CLIENT_TIMEOUT_MS = 30_000;
const config = workerData as BurstConfig;

function send(method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: `127.0.0.1:${config.port}`, Authorization: `Bearer ${config.token}` };
    if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
    const req = http.request({ host: '127.0.0.1', port: config.port, method, path, headers, agent: false, timeout: CLIENT_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function timed(result: BurstResult, into: number[], method: string, path: string, body?: string): Promise<void> {
  const t0 = performance.now();
  try {
    const status = await send(method, path, body);
    into.push(performance.now() - t0);
    result.statuses[status] = (result.statuses[status] ?? 0) + 1;
  } catch {
    result.failures++;
  }
}

const result: BurstResult = { submitLatencies: [], healthLatencies: [], statuses: {}, failures: 0 };
let bursting = true;
const probing = (async () => {
  while (bursting) {
    await timed(result, result.healthLatencies, 'GET', '/v1/health');
    await new Promise((r) => setTimeout(r, 20));
  }
})();
const template = JSON.stringify(config.request);
await Promise.all(
  Array.from({ length: config.submissions }, (_, i) => timed(result, result.submitLatencies, 'POST', '/v1/jobs', template.replace('{i}', String(i)))),
);
bursting = false;
await probing;
parentPort!.postMessage(result);
