// Load generator for bench/daemon.ts, run in its own worker thread so the clients do not share
// the daemon's event loop: `clients` keep-alive connections, each sending its requests one
// after another for `durationMs`, alternating between the given paths.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadConfig {
  port: number;
  token: string;
  clients: number;
  durationMs: number;
  paths: string[];
}

export interface LoadResult {
  /** Latencies in ms, per path. */
  latencies: Record<string, number[]>;
  errors: number;
  statuses: Record<string, number>;
}

const config = workerData as LoadConfig;

function request(agent: http.Agent, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: config.port,
        path,
        agent,
        headers: { Host: `127.0.0.1:${config.port}`, Authorization: `Bearer ${config.token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function client(index: number, until: number, result: LoadResult): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let n = index;
  while (performance.now() < until) {
    const path = config.paths[n++ % config.paths.length];
    const t0 = performance.now();
    try {
      const status = await request(agent, path);
      result.latencies[path].push(performance.now() - t0);
      result.statuses[status] = (result.statuses[status] ?? 0) + 1;
    } catch {
      result.errors++;
    }
  }
  agent.destroy();
}

const result: LoadResult = { latencies: Object.fromEntries(config.paths.map((p) => [p, []])), errors: 0, statuses: {} };
const until = performance.now() + config.durationMs;
await Promise.all(Array.from({ length: config.clients }, (_, i) => client(i, until, result)));
parentPort!.postMessage(result);
