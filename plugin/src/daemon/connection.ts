// Finding, pairing with and staying connected to the daemon. One loop: public health (is a
// TokenFlow daemon there, same API?) → token (ask once, keep in secure storage) → full
// health with the token → events socket. Any failure becomes a status the panel shows with
// what to do, and the loop retries by itself with backoff; a (re)connect delivers the
// daemon's `hello` snapshot so the panel can resynchronise its jobs.
import { API_VERSION } from '../../../shared/api.ts';
import { ServerEvent, type EventOf } from '../../../shared/events.ts';
import type { Health } from '../../../shared/health.ts';
import type { PairingStarted } from '../../../shared/pairing.ts';
import type { SecretStore } from '../host/storage.ts';
import { DaemonClient, DaemonError, type FetchLike } from '../../../shared/daemon_client.ts';
import { parseJsonAs } from '../../../shared/parse_json.ts';

export type ConnectionStatus =
  | { kind: 'connecting' }
  /** Nothing answers on the port (never connected yet this session). */
  | { kind: 'not_running'; retryInMs: number }
  /** Something answers, but not a TokenFlow daemon. */
  | { kind: 'not_tokenflow'; message: string; retryInMs: number }
  | { kind: 'version_mismatch'; daemonApi: string; retryInMs: number }
  | { kind: 'needs_token' }
  | { kind: 'wrong_token'; message: string }
  /** Host/Origin refused (403) or another refusal the user must fix on the daemon side. */
  | { kind: 'refused'; message: string; retryInMs: number }
  | { kind: 'connected'; health: Health }
  /** Was connected; the connection dropped. */
  | { kind: 'reconnecting'; retryInMs: number; reason: string };

/** The browser WebSocket as both UXP and Chromium provide it. */
export interface WebSocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ConnectionOptions {
  baseUrl: string;
  fetch: FetchLike;
  openSocket: WebSocketFactory;
  secrets: SecretStore;
  timers?: Timers;
  /** Retry delays in ms, last one repeated (default 0.5, 1, 2, 4, 5 s). */
  backoffMs?: readonly number[];
  /** Retry delay after a version mismatch or a refusal (default 15 s). */
  slowRetryMs?: number;
  log?: (message: string) => void;
}

export interface ConnectionListener {
  status?(status: ConnectionStatus): void;
  /** A (re)connect: the daemon's snapshot of active jobs, and the authenticated client. */
  hello?(hello: EventOf<'hello'>, client: DaemonClient): void;
  event?(event: ServerEvent): void;
}

/** Base64url as `tokenflow token` prints it; RFC 6455 token characters (WebSocket subprotocol). */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{16,256}$/;

export class TokenFormatError extends Error {}

/** Confirming a pairing that was never started (or already ended). */
export class PairingStateError extends Error {}

/** The token as the user pasted it, trimmed; refuses text that cannot be a daemon token. */
export function normalizeToken(input: string): string {
  const token = input.trim().replace(/^Bearer\s+/i, '');
  if (!TOKEN_PATTERN.test(token)) {
    throw new TokenFormatError('That is not a TokenFlow token: copy the whole line that `tokenflow token` prints.');
  }
  return token;
}

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

export class DaemonConnection {
  private readonly options: ConnectionOptions;
  private readonly timers: Timers;
  private readonly backoff: readonly number[];
  private readonly listeners = new Set<ConnectionListener>();
  private current: ConnectionStatus = { kind: 'connecting' };
  private authed: DaemonClient | undefined;
  private socket: WebSocketLike | undefined;
  private timer: unknown;
  /** Bumped whenever a cycle is abandoned, so late async results of an old cycle are dropped. */
  private generation = 0;
  private failures = 0;
  private everConnected = false;
  private running = false;
  /**
   * How the events socket carries the token: a `bearer.<token>` subprotocol, or `?token=` for
   * a WebSocket that cannot send subprotocols (unverified in UXP). A socket refused before its
   * hello switches to the other form for the next try.
   */
  private socketAuth: 'protocol' | 'query' = 'protocol';
  /** The pairing request waiting for the user's code. */
  private pairingId: string | undefined;

  constructor(options: ConnectionOptions) {
    this.options = options;
    this.timers = options.timers ?? defaultTimers;
    this.backoff = options.backoffMs ?? [500, 1000, 2000, 4000, 5000];
  }

  get status(): ConnectionStatus {
    return this.current;
  }

  /** The authenticated client while connected. */
  get client(): DaemonClient | undefined {
    return this.current.kind === 'connected' ? this.authed : undefined;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  /** Points the connection at another address (the user changed the port) and reconnects. */
  setBaseUrl(baseUrl: string): void {
    if (baseUrl === this.options.baseUrl) return;
    this.options.baseUrl = baseUrl;
    this.everConnected = false;
    this.failures = 0;
    if (this.running) this.restart();
  }

  subscribe(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.restart();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    this.cancelTimer();
    this.closeSocket();
  }

  /** Skips the wait of a pending retry. */
  retryNow(): void {
    if (this.running) this.restart();
  }

  /** Stores a token the user pasted and tries it. Throws TokenFormatError for obvious typos. */
  async submitToken(input: string): Promise<void> {
    const token = normalizeToken(input);
    await this.options.secrets.set(token);
    this.restart();
  }

  /**
   * Asks the daemon for a pairing code (shown by the companion, never sent to the panel).
   * Resolves with when it expires; a DaemonError says why not.
   */
  async startPairing(): Promise<PairingStarted> {
    const started = await new DaemonClient({ baseUrl: this.options.baseUrl, fetch: this.options.fetch }).startPairing();
    this.pairingId = started.pairing_id;
    return started;
  }

  /** Whether a pairing request waits for the user's code. */
  get pairingPending(): boolean {
    return this.pairingId !== undefined;
  }

  /** Trades the code the user typed for the token, stores it and connects. */
  async confirmPairing(code: string): Promise<void> {
    if (this.pairingId === undefined) throw new PairingStateError('Start pairing first: click “Pair”.');
    const client = new DaemonClient({ baseUrl: this.options.baseUrl, fetch: this.options.fetch });
    let token: string;
    try {
      token = await client.confirmPairing(this.pairingId, code);
    } catch (err) {
      // A request the daemon no longer knows (expired, void, replaced) cannot be retried.
      if (err instanceof DaemonError && (err.status === 404 || err.status === 410 || err.code === 'pairing_refused' && /void/.test(err.message))) {
        this.pairingId = undefined;
      }
      throw err;
    }
    this.pairingId = undefined;
    await this.options.secrets.set(token);
    this.restart();
  }

  /** Forgets the stored token (the panel then asks again). */
  async forgetToken(): Promise<void> {
    await this.options.secrets.clear();
    this.restart();
  }

  private restart(): void {
    this.generation++;
    this.cancelTimer();
    this.closeSocket();
    void this.cycle(this.generation);
  }

  private setStatus(status: ConnectionStatus): void {
    this.current = status;
    for (const l of this.listeners) l.status?.(status);
  }

  private retryIn(ms: number, gen: number): void {
    this.cancelTimer();
    this.timer = this.timers.setTimeout(() => {
      if (gen === this.generation && this.running) this.restart();
    }, ms);
  }

  private nextBackoff(): number {
    const ms = this.backoff[Math.min(this.failures, this.backoff.length - 1)];
    this.failures++;
    return ms;
  }

  private unreachable(gen: number, reason: string): void {
    const retryInMs = this.nextBackoff();
    this.setStatus(this.everConnected ? { kind: 'reconnecting', retryInMs, reason } : { kind: 'not_running', retryInMs });
    this.retryIn(retryInMs, gen);
  }

  private async cycle(gen: number): Promise<void> {
    if (!this.everConnected && this.current.kind !== 'not_running') this.setStatus({ kind: 'connecting' });
    const anonymous = new DaemonClient({ baseUrl: this.options.baseUrl, fetch: this.options.fetch });
    const slow = this.options.slowRetryMs ?? 15_000;
    try {
      const info = await anonymous.publicHealth();
      if (gen !== this.generation) return;
      if (info.apiVersion !== API_VERSION) {
        this.setStatus({ kind: 'version_mismatch', daemonApi: info.apiVersion, retryInMs: slow });
        this.retryIn(slow, gen);
        return;
      }
      const token = await this.options.secrets.get();
      if (gen !== this.generation) return;
      if (token === undefined) {
        this.setStatus({ kind: 'needs_token' });
        return;
      }
      const client = anonymous.withToken(token);
      const health = await client.health();
      if (gen !== this.generation) return;
      this.openEvents(gen, client, token, health);
    } catch (err) {
      if (gen !== this.generation) return;
      if (err instanceof DaemonError && err.unreachable) return this.unreachable(gen, 'the daemon stopped answering');
      if (err instanceof DaemonError && err.status === 401) {
        this.setStatus({ kind: 'wrong_token', message: err.message });
        return;
      }
      if (err instanceof DaemonError && err.status === 403) {
        this.setStatus({ kind: 'refused', message: err.message, retryInMs: slow });
        this.retryIn(slow, gen);
        return;
      }
      if (err instanceof DaemonError && err.protocolMismatch) {
        this.setStatus({ kind: 'not_tokenflow', message: err.message, retryInMs: slow });
        this.retryIn(slow, gen);
        return;
      }
      this.options.log?.(`daemon connection: ${err instanceof Error ? err.message : String(err)}`);
      this.unreachable(gen, err instanceof Error ? err.message : String(err));
    }
  }

  private openEvents(gen: number, client: DaemonClient, token: string, health: Health): void {
    let socket: WebSocketLike;
    const auth = this.socketAuth;
    try {
      socket =
        auth === 'protocol'
          ? this.options.openSocket(client.eventsUrl(), [`bearer.${token}`])
          : this.options.openSocket(`${client.eventsUrl()}?token=${encodeURIComponent(token)}`, []);
    } catch (err) {
      this.socketAuth = auth === 'protocol' ? 'query' : 'protocol';
      this.unreachable(gen, `cannot open the events socket: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.socket = socket;
    let greeted = false;
    socket.onmessage = (message) => {
      if (gen !== this.generation) return;
      const event = parseEvent(message.data);
      if (!event) return; // an event type this panel does not know: ignored, as the protocol asks
      if (event.type === 'hello') {
        greeted = true;
        this.failures = 0;
        this.everConnected = true;
        this.authed = client;
        this.setStatus({ kind: 'connected', health });
        for (const l of this.listeners) l.hello?.(event, client);
        return;
      }
      for (const l of this.listeners) l.event?.(event);
    };
    socket.onclose = (close) => {
      if (gen !== this.generation) return;
      this.socket = undefined;
      this.authed = undefined;
      // Before the hello: the upgrade was refused or cut. The next cycle's health check says
      // why if it is the daemon; otherwise the other way of sending the token is tried.
      if (!greeted) this.socketAuth = auth === 'protocol' ? 'query' : 'protocol';
      this.unreachable(gen, greeted ? `connection lost (code ${close.code})` : 'the events socket was refused');
    };
    socket.onerror = () => {
      // onclose follows and handles it.
    };
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private closeSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.authed = undefined;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.close(1000, 'panel reconnecting');
    }
  }
}

function parseEvent(data: unknown): ServerEvent | undefined {
  return typeof data === 'string' ? parseJsonAs(ServerEvent, data) : undefined;
}
