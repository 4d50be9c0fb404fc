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

/**
 * Origin schemes a browser can put on a request made by web content. The daemon serves no
 * pages, so no such Origin is legitimate unless the user listed it. `null` (sandboxed
 * iframes, file: pages, data: URLs, cross-origin redirects) is refused the same way.
 */
const WEB_SCHEMES = new Set([
  'http',
  'https',
  'ws',
  'wss',
  'file',
  'blob',
  'data',
  'about',
  'javascript',
  'chrome',
  'chrome-extension',
  'moz-extension',
  'safari-web-extension',
  'ms-browser-extension',
  'edge',
]);

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

/** Whether this Origin may talk to the daemon (and so gets a CORS answer). */
export function originAccepted(origin: string, policy: OriginPolicy): boolean {
  if (policy.allowedOrigins.has(origin)) return true;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(origin)?.[1]?.toLowerCase();
  // Unparseable values and `null` have no scheme and are refused.
  return scheme !== undefined && !WEB_SCHEMES.has(scheme);
}

/**
 * Browser-origin guard. No Origin: a non-browser client (curl, the CLI, the UXP panel if it
 * sends none) — allowed. A web Origin or `null`: refused unless allowed explicitly.
 * Sec-Fetch-Site catches browser requests that carry no Origin (e.g. an <img> GET).
 */
export function checkOrigin(
  origin: string | undefined,
  secFetchSite: string | undefined,
  policy: OriginPolicy,
): ApiError | undefined {
  if (origin !== undefined && !originAccepted(origin, policy)) {
    return new ApiError(
      403,
      'forbidden',
      `Origin "${printable(origin)}" is not allowed; only the TokenFlow panel may call the daemon (see --allow-origin)`,
    );
  }
  const site = secFetchSite?.toLowerCase();
  if ((site === 'cross-site' || site === 'same-site') && !(origin !== undefined && policy.allowedOrigins.has(origin))) {
    return new ApiError(403, 'forbidden', `cross-site browser request refused (Sec-Fetch-Site: ${site})`);
  }
  return undefined;
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
