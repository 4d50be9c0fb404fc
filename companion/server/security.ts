// The daemon's request checks, as pure functions shared by the REST middleware and the
// WebSocket upgrade. Each returns undefined when the request passes, or an ApiError.
//
// Threat model: the daemon is reachable by anything on this machine, including web pages
// in the user's browser. A page cannot read the token file, so the bearer token stops it;
// the Host and Origin checks are the layers beneath that (DNS rebinding makes a hostile
// name resolve to 127.0.0.1; a browser always labels such requests with the page's Host
// and, for fetch/XHR/WebSocket, its Origin).
import net from 'node:net';
import { ApiError } from './errors.ts';
import { tokensEqual } from './token.ts';

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface HostPolicy {
  /** The port the daemon actually listens on (after binding port 0). */
  port: number;
  /**
   * True when the daemon was deliberately bound to a non-loopback address: then IP-literal
   * Hosts are accepted too (an IP literal cannot be rebound, a DNS name can).
   */
  acceptIpLiterals: boolean;
}

/** DNS-rebinding guard: Host must be a loopback name (or, if exposed, an IP) with our port. */
export function checkHost(header: string | undefined, policy: HostPolicy): ApiError | undefined {
  const refuse = (why: string) => new ApiError(403, 'forbidden', `Host header refused: ${why}`);
  if (header === undefined || header === '') return refuse('missing');
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+)(?::(\d{1,5}))?$/.exec(header);
  if (!match) return refuse(`"${printable(header)}" is not host[:port]`);
  const name = match[1].toLowerCase();
  const port = match[2] === undefined ? 80 : Number(match[2]);
  const isLoopbackName = LOOPBACK_NAMES.has(name);
  const isIpLiteral = net.isIPv4(name) || (name.startsWith('[') && net.isIPv6(name.slice(1, -1)));
  if (!isLoopbackName && !(policy.acceptIpLiterals && isIpLiteral)) {
    return refuse(`"${printable(match[1])}" is not 127.0.0.1, localhost or [::1]`);
  }
  if (port !== policy.port) return refuse(`port ${port} is not the daemon's port ${policy.port}`);
  return undefined;
}

export interface OriginPolicy {
  /** Origins the user allowed explicitly (`--allow-origin`), compared exactly. */
  allowedOrigins: ReadonlySet<string>;
}

/**
 * Origin schemes of the UXP runtime the panel lives in (its own URL schemes are `plugin:`,
 * `plugin-data:`, `plugin-temp:`; `uxp:` names the runtime). No browser, extension, isolated
 * app or editor webview can put one on a request, so a panel that sends one is accepted
 * without --allow-origin. What Premiere really sends is not documented by Adobe: the
 * panel may equally send no Origin at all, which is accepted too.
 */
const PANEL_SCHEMES = new Set(['uxp', 'plugin']);

export type OriginVerdict =
  | { accepted: true; /** Echo it in Access-Control-Allow-Origin (only for --allow-origin). */ cors: boolean }
  | { accepted: false; why: string };

/**
 * The Origin rule, first match wins:
 *   1. no Origin header             → accepted (curl, the CLI, a panel that sends none)
 *   2. listed with --allow-origin   → accepted, and echoed for CORS (exact string match)
 *   3. scheme `uxp:` or `plugin:`   → accepted, not echoed (the panel's runtime; see above)
 *   4. anything else                → refused: every scheme web content can carry (http, https,
 *      file, blob, data, about, `null`, browser-extension, isolated-app, chrome-untrusted,
 *      Electron `app:`, editor webviews …) and every scheme nobody told us about.
 * An allow-list, not a deny-list: a scheme invented tomorrow is refused until listed.
 */
export function judgeOrigin(origin: string | undefined, policy: OriginPolicy): OriginVerdict {
  if (origin === undefined) return { accepted: true, cors: false };
  if (policy.allowedOrigins.has(origin)) return { accepted: true, cors: true };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/[^\s/?#]+$/.exec(origin)?.[1]?.toLowerCase();
  if (scheme !== undefined && PANEL_SCHEMES.has(scheme)) return { accepted: true, cors: false };
  return { accepted: false, why: `Origin "${printable(origin)}" is not allowed; only the TokenFlow panel may call the daemon (see --allow-origin)` };
}

/**
 * Browser-origin guard: judgeOrigin, plus Sec-Fetch-Site, which catches browser requests
 * that carry no Origin (e.g. an <img> GET). A cross-site request passes only with an Origin
 * the user allowed.
 */
export function checkOrigin(
  origin: string | undefined,
  secFetchSite: string | undefined,
  policy: OriginPolicy,
): ApiError | undefined {
  const verdict = judgeOrigin(origin, policy);
  if (!verdict.accepted) return new ApiError(403, 'forbidden', verdict.why);
  const site = secFetchSite?.toLowerCase();
  if ((site === 'cross-site' || site === 'same-site') && !verdict.cors) {
    return new ApiError(403, 'forbidden', `cross-site browser request refused (Sec-Fetch-Site: ${site})`);
  }
  return undefined;
}

/**
 * Headers that must appear at most once. Node keeps only the first of two Host headers (and
 * joins two Origins), so a proxy or server that reads the other one would judge a different
 * request than we did: such a request is refused outright.
 */
const SINGLE_HEADERS = ['host', 'origin'];

export function checkSingleHeaders(rawHeaders: readonly string[]): ApiError | undefined {
  for (const name of SINGLE_HEADERS) {
    let count = 0;
    for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) count++;
    if (count > 1) return new ApiError(400, 'bad_request', `${count} ${name === 'host' ? 'Host' : 'Origin'} headers in one request; send exactly one`);
  }
  return undefined;
}

/** Every header check of a request (REST and WebSocket upgrade alike), in order. */
export function checkRequestHeaders(
  req: { headers: Record<string, string | string[] | undefined>; rawHeaders: readonly string[] },
  hostPolicy: HostPolicy,
  originPolicy: OriginPolicy,
): ApiError | undefined {
  const origin = req.headers.origin;
  const fetchSite = req.headers['sec-fetch-site'];
  return (
    checkSingleHeaders(req.rawHeaders) ??
    checkHost(req.headers.host as string | undefined, hostPolicy) ??
    checkOrigin(Array.isArray(origin) ? origin.join(', ') : origin, Array.isArray(fetchSite) ? fetchSite[0] : fetchSite, originPolicy)
  );
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it is. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** 401 unless `presented` is the daemon's token. */
export function checkToken(presented: string | undefined, expected: string): ApiError | undefined {
  if (presented === undefined || presented === '') {
    return new ApiError(401, 'unauthorized', 'missing bearer token; send "Authorization: Bearer <token>" (print it with `tokenflow token`)');
  }
  if (!tokensEqual(presented, expected)) {
    return new ApiError(401, 'unauthorized', 'wrong bearer token (print the current one with `tokenflow token`)');
  }
  return undefined;
}

/** A header value made safe to echo in a message (bounded, no control characters). */
function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean;
}
