// The daemon's half of pairing (shared/pairing.ts): one pending request at a time, a random
// 6-digit code announced only to the user (console and log, never in an HTTP answer), a few
// tries, a short life, and a cap on how often pairing may start, so the code cannot be guessed
// by brute force. Who may ask at all is decided before this: Host/Origin rules, and only the
// panel's own Origins (or none) — see app.ts.
import { randomInt, randomUUID } from 'node:crypto';
import { PAIRING_CODE_DIGITS, normalizePairingCode, type PairingStarted } from '../../shared/pairing.ts';
import { ApiError } from './errors.ts';
import { tokensEqual } from './token.ts';

export interface PairingOptions {
  token: string;
  /** Shows the code to the user (the daemon's console and log). */
  announce: (code: string, expiresInS: number) => void;
  now?: () => number;
  lifetimeMs?: number;
  tries?: number;
  /** Pairing requests allowed per window (default 5 per 10 minutes). */
  startsPerWindow?: number;
  windowMs?: number;
}

interface Pending {
  id: string;
  code: string;
  expiresAt: number;
  triesLeft: number;
}

export class PairingDesk {
  private readonly opts: Required<PairingOptions>;
  private pending: Pending | undefined;
  private recentStarts: number[] = [];

  constructor(options: PairingOptions) {
    this.opts = {
      now: Date.now,
      lifetimeMs: 120_000,
      tries: 3,
      startsPerWindow: 5,
      windowMs: 600_000,
      ...options,
    };
  }

  /** A new pairing request; it voids any earlier one (only the newest code works). */
  start(): PairingStarted {
    const now = this.opts.now();
    this.recentStarts = this.recentStarts.filter((t) => now - t < this.opts.windowMs);
    if (this.recentStarts.length >= this.opts.startsPerWindow) {
      const waitS = Math.ceil((this.recentStarts[0]! + this.opts.windowMs - now) / 1000);
      throw new ApiError(429, 'too_many_requests', `pairing was started ${this.recentStarts.length} times in the last ${Math.round(this.opts.windowMs / 60_000)} minutes; try again in ${waitS} s`);
    }
    this.recentStarts.push(now);
    const code = String(randomInt(0, 10 ** PAIRING_CODE_DIGITS)).padStart(PAIRING_CODE_DIGITS, '0');
    this.pending = { id: randomUUID(), code, expiresAt: now + this.opts.lifetimeMs, triesLeft: this.opts.tries };
    this.opts.announce(`${code.slice(0, 3)} ${code.slice(3)}`, Math.round(this.opts.lifetimeMs / 1000));
    return {
      pairing_id: this.pending.id,
      expires_at: new Date(this.pending.expiresAt).toISOString(),
      code_digits: PAIRING_CODE_DIGITS,
      tries: this.opts.tries,
    };
  }

  /** The token for the right code; otherwise an ApiError that says why pairing was refused. */
  confirm(id: string, typed: string): string {
    const pending = this.pending;
    if (pending === undefined || pending.id !== id) {
      throw new ApiError(404, 'not_found', 'no such pairing request (a newer one replaced it, or the daemon restarted): start pairing again');
    }
    if (this.opts.now() > pending.expiresAt) {
      this.pending = undefined;
      throw new ApiError(410, 'pairing_expired', `the code expired after ${Math.round(this.opts.lifetimeMs / 1000)} s: start pairing again for a new code`);
    }
    const code = normalizePairingCode(typed);
    if (!/^\d+$/.test(code) || code.length !== PAIRING_CODE_DIGITS || !tokensEqual(code, pending.code)) {
      pending.triesLeft--;
      if (pending.triesLeft <= 0) {
        this.pending = undefined;
        throw new ApiError(403, 'pairing_refused', 'wrong code too many times: this pairing request is void; start pairing again for a new code');
      }
      throw new ApiError(403, 'pairing_refused', `wrong code: type the ${PAIRING_CODE_DIGITS} digits the TokenFlow companion shows (${pending.triesLeft} ${pending.triesLeft === 1 ? 'try' : 'tries'} left)`, 'code');
    }
    this.pending = undefined;
    return this.opts.token;
  }
}
