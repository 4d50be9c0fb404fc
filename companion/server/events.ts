// WebSocket `/v1/events`: the job service's events, pushed to every authenticated client.
// The upgrade is checked like a REST request (Host, Origin, token) before any WebSocket
// handshake happens; a refusal is a plain HTTP error with a JSON body written to the socket.
// The token comes as a `bearer.<token>` subprotocol (echoed back, as RFC 6455 requires of
// an accepted subprotocol) or a `?token=` query parameter.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { API_PATHS, API_VERSION } from '../../shared/api.ts';
import type { LogLevel, ServerEvent } from '../../shared/events.ts';
import type { JobServiceApi } from '../jobs/index.ts';
import { ApiError, errorBody } from './errors.ts';
import { checkRequestHeaders, checkToken, type HostPolicy, type OriginPolicy } from './security.ts';

const BEARER_PROTOCOL = 'bearer.';
/** Clients send nothing of substance; anything bigger than this is abuse. */
const MAX_CLIENT_MESSAGE = 4 * 1024;
/** A client this far behind (previews are the big messages) is dropped, not buffered for. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * A new client gets the jobs' latest previews only while less than this waits to be sent: with
 * one preview more at most (MAX_PREVIEW_BASE64) it stays well below MAX_BUFFERED_BYTES, so a
 * daemon with many jobs under way does not drop the client it greets. The jobs left out send
 * their next preview soon enough.
 */
const GREETING_PREVIEW_BYTES = 4 * 1024 * 1024;

export interface EventHubOptions {
  jobs: JobServiceApi;
  token: string;
  hostPolicy: () => HostPolicy;
  originPolicy: OriginPolicy;
  version: string;
  /** Ping period; a client that did not answer the previous ping is dropped. Default 30 s. */
  heartbeatMs?: number;
  log: (level: LogLevel, message: string) => void;
}

interface Client {
  socket: WebSocket;
  alive: boolean;
}

export class EventHub {
  readonly #opts: EventHubOptions;
  readonly #wss: WebSocketServer;
  readonly #clients = new Set<Client>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #unsubscribe: () => void;

  constructor(opts: EventHubOptions) {
    this.#opts = opts;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_CLIENT_MESSAGE,
      perMessageDeflate: false,
      handleProtocols: (protocols) => [...protocols].find((p) => p.startsWith(BEARER_PROTOCOL)) ?? false,
    });
    this.#unsubscribe = opts.jobs.onEvent((event) => this.broadcast(event));
    this.#heartbeat = setInterval(() => this.#ping(), opts.heartbeatMs ?? 30_000);
    this.#heartbeat.unref();
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** The http server's 'upgrade' handler. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refused = this.#check(req);
    if (refused) {
      this.#opts.log('warn', `refused WebSocket upgrade: ${refused.message}`);
      refuseUpgrade(socket, refused);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
  }

  /** Sends one event to every connected client. */
  broadcast(event: ServerEvent): void {
    if (this.#clients.size === 0) return;
    const data = JSON.stringify(event);
    for (const client of this.#clients) this.#send(client, data);
  }

  /**
   * Says goodbye to every client (close code 1001, going away), waits up to `graceMs` for
   * their close handshakes, then cuts whoever is left; stops listening to the job service.
   */
  async close(graceMs = 1000): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#unsubscribe();
    const sockets = [...this.#clients].map((c) => c.socket);
    this.#clients.clear();
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === socket.CLOSED) {
              resolve();
              return;
            }
            const timer = setTimeout(() => socket.terminate(), graceMs);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.close(1001, 'daemon shutting down');
          }),
      ),
    );
    this.#wss.close();
  }

  #check(req: IncomingMessage): ApiError | undefined {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== API_PATHS.events) {
      return new ApiError(404, 'not_found', `no WebSocket endpoint at ${url.pathname}`);
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      return new ApiError(400, 'bad_request', 'only WebSocket upgrades are supported');
    }
    return (
      checkRequestHeaders(req, this.#opts.hostPolicy(), this.#opts.originPolicy) ??
      checkToken(presentedToken(req, url), this.#opts.token)
    );
  }

  #accept(socket: WebSocket): void {
    const client: Client = { socket, alive: true };
    // Snapshot (with the active jobs' latest previews that fit), send and register in one
    // synchronous step: no event can fall between the snapshot and the first broadcast this
    // client receives.
    const hello: ServerEvent = {
      type: 'hello',
      server_version: this.#opts.version,
      api_version: API_VERSION,
      jobs: this.#opts.jobs.snapshot(),
    };
    this.#send(client, JSON.stringify(hello));
    for (const preview of this.#opts.jobs.latestPreviews()) {
      if (socket.bufferedAmount >= GREETING_PREVIEW_BYTES) break;
      this.#send(client, JSON.stringify(preview));
    }
    this.#clients.add(client);
    socket.on('pong', () => {
      client.alive = true;
    });
    socket.on('message', () => {
      const reply: ServerEvent = { type: 'error', code: 'bad_request', message: 'the events socket does not take messages' };
      this.#send(client, JSON.stringify(reply));
    });
    socket.on('error', () => socket.terminate());
    socket.on('close', () => this.#clients.delete(client));
  }

  #send(client: Client, data: string): void {
    const { socket } = client;
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.#opts.log('warn', 'dropping an events client that stopped reading');
      socket.terminate();
      this.#clients.delete(client);
      return;
    }
    socket.send(data);
  }

  #ping(): void {
    for (const client of this.#clients) {
      if (!client.alive) {
        client.socket.terminate();
        this.#clients.delete(client);
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  }
}

function presentedToken(req: IncomingMessage, url: URL): string | undefined {
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const fromProtocol = offered.find((p) => p.startsWith(BEARER_PROTOCOL));
  if (fromProtocol !== undefined) return fromProtocol.slice(BEARER_PROTOCOL.length);
  return url.searchParams.get('token') ?? undefined;
}

/** Answers a refused upgrade with a JSON HTTP error and closes the connection. */
function refuseUpgrade(socket: Duplex, err: ApiError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(err.code, err.message));
  const headers = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(err.status === 401 ? ['WWW-Authenticate: Bearer realm="tokenflow"'] : []),
    'Cache-Control: no-store',
    'Connection: close',
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}
