// One HTTP server carrying the REST app and the `/v1/events` WebSocket (ws in noServer mode,
// so the upgrade goes through the same Host/Origin/token checks as every request).
import { statfs } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { KnownErrorCode } from '../../shared/errors.ts';
import type { FarmWorkerInfo, ModelInfo } from '../../shared/health.ts';
import type { LogLevel } from '../../shared/events.ts';
import type { JobServiceApi } from '../jobs/index.ts';
import { createApp } from './app.ts';
import { errorBody } from './errors.ts';
import { EventHub } from './events.ts';
import { PairingDesk } from './pairing.ts';
import type { ModelPullService } from '../hub/pull_jobs.ts';
import type { HostPolicy } from './security.ts';

export interface DaemonOptions {
  jobs: JobServiceApi;
  token: string;
  /** Address to bind; a non-loopback one needs `exposed: true`. */
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Set only when the user explicitly asked to listen beyond this machine. */
  exposed?: boolean;
  /** Origins allowed besides those no browser can send (see security.ts). */
  allowedOrigins?: readonly string[];
  version: string;
  device?: () => string | null;
  /** The GPU's name, if known. */
  deviceName?: () => string | null;
  listModels?: () => Promise<ModelInfo[]>;
  heartbeatMs?: number;
  /** A request whose headers and body have not arrived by then is answered 408 (default 60 s). */
  requestTimeoutMs?: number;
  log?: (level: LogLevel, message: string) => void;
  /** The render folder, whose free space the health reports. */
  outputDir?: string;
  /** Model downloads for the panel (`POST /v1/models/pull`); their events go on /v1/events. */
  modelPulls?: ModelPullService;
  /** The studio farm's live workers, for the health (`serve --queue`). */
  farmWorkers?: () => Promise<FarmWorkerInfo[]>;
  /** Also shows the pairing code as a desktop notification (`tokenflow serve`; not in tests). */
  notify?: (title: string, text: string) => void;
}

export interface Daemon {
  /** Base URL for clients on this machine, e.g. http://127.0.0.1:43117 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly events: EventHub;
  /** Stops accepting, closes WebSocket clients and open connections. */
  close(): Promise<void>;
}

/** Whether an address only reaches this machine. */
export function isLoopbackAddress(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const exposed = opts.exposed === true;
  if (!isLoopbackAddress(opts.host) && !exposed) {
    throw new Error(`refusing to listen on ${opts.host}: it is not a loopback address (pass the explicit expose flag to allow it)`);
  }
  const log = opts.log ?? (() => {});
  const listenHost = opts.host === 'localhost' ? '127.0.0.1' : opts.host;
  let port = opts.port;
  const hostPolicy = (): HostPolicy => ({ port, acceptIpLiterals: exposed });
  const originPolicy = { allowedOrigins: new Set(opts.allowedOrigins ?? []) };

  const app = createApp({
    jobs: opts.jobs,
    token: opts.token,
    hostPolicy,
    originPolicy,
    version: opts.version,
    device: opts.device ?? (() => null),
    listModels: opts.listModels ?? (async () => []),
    log,
    modelPulls: opts.modelPulls,
    deviceName: opts.deviceName,
    farmWorkers: opts.farmWorkers,
    outputFreeBytes: opts.outputDir === undefined ? undefined : () => freeBytes(opts.outputDir!),
    pairing: new PairingDesk({
      token: opts.token,
      announce: (code, seconds) => {
        log('warn', pairingAnnouncement(code, seconds));
        opts.notify?.('TokenFlow pairing code', `${code}: type it in the TokenFlow panel in Premiere Pro (valid ${seconds} s).`);
      },
    }),
  });
  const events = new EventHub({
    jobs: opts.jobs,
    token: opts.token,
    hostPolicy,
    originPolicy,
    version: opts.version,
    heartbeatMs: opts.heartbeatMs,
    log,
  });

  const stopModelEvents = opts.modelPulls?.onEvent((job) => events.broadcast({ type: 'model.progress', job }));

  // requireHostHeader off: a missing Host is refused by our own check, with a JSON body.
  const requestTimeout = opts.requestTimeoutMs ?? 60_000;
  const server = http.createServer({
    requestTimeout,
    headersTimeout: Math.min(20_000, requestTimeout),
    // Node looks for timed-out requests this often (its default, 30 s, would double the limit).
    connectionsCheckingInterval: Math.max(100, Math.min(5_000, requestTimeout / 4)),
    requireHostHeader: false,
  }, app);
  server.on('upgrade', (req, socket, head) => events.handleUpgrade(req, socket, head));
  // Requests Node's HTTP parser rejects never reach express; they still get a JSON error.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const [status, code, text] = clientErrorReply(err.code, requestTimeout);
    const body = JSON.stringify(errorBody(code, text));
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(listenError(err, listenHost, opts.port));
    server.once('error', onError);
    server.listen({ host: listenHost, port: opts.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const clientHost = exposed && !isLoopbackAddress(listenHost) ? '127.0.0.1' : listenHost;
  const url = `http://${net.isIPv6(clientHost) ? `[${clientHost}]` : clientHost}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    host: listenHost,
    port,
    events,
    close() {
      stopModelEvents?.();
      closing ??= Promise.all([
        events.close(),
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // In-flight requests get a moment to finish; then everything is cut.
          setTimeout(() => server.closeAllConnections(), 2000).unref();
        }),
      ]).then(() => undefined);
      return closing;
    },
  };
}

async function freeBytes(folder: string): Promise<number | null> {
  try {
    const s = await statfs(folder);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** The line that shows the user the pairing code (tests and the README quote its shape). */
export function pairingAnnouncement(code: string, seconds: number): string {
  return `PAIRING CODE for the TokenFlow panel: ${code} (type it in the panel within ${seconds} s; if you did not ask to pair, ignore it)`;
}

/** The answer to a request Node's HTTP layer refused before express saw it. */
function clientErrorReply(errno: string | undefined, requestTimeoutMs: number): [number, KnownErrorCode, string] {
  if (errno === 'HPE_HEADER_OVERFLOW') return [431, 'payload_too_large', 'request headers are too large'];
  if (errno === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return [408, 'request_timeout', `the request did not arrive completely within ${Math.round(requestTimeoutMs / 1000)} s`];
  }
  return [400, 'bad_request', 'malformed HTTP request'];
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === 'EADDRINUSE') {
    return new Error(
      `port ${port} on ${host} is already in use: is another \`tokenflow serve\` running? ` +
        'Stop it, or pick another port with --port',
    );
  }
  if (err.code === 'EADDRNOTAVAIL') return new Error(`cannot listen on ${host}: no such address on this machine`);
  if (err.code === 'EACCES') return new Error(`not allowed to listen on ${host}:${port} (ports below 1024 need privileges)`);
  return err;
}
