// Pairing the panel with the daemon without a terminal: the panel asks for a pairing, the
// daemon shows a one-time code where the user sees it (its console and log), the user types
// that code into the panel, and the daemon answers with its bearer token. The routes take no
// token; the Host and Origin rules of every request still apply (README, security model).
import { z } from 'zod';

/** Digits in a pairing code. */
export const PAIRING_CODE_DIGITS = 6;

/** `POST /v1/pair` (empty body) answers this. */
export const PairingStarted = z.strictObject({
  pairing_id: z.uuid(),
  /** ISO time after which the code is refused. */
  expires_at: z.iso.datetime(),
  code_digits: z.literal(PAIRING_CODE_DIGITS),
  /** Wrong codes accepted before the request is void. */
  tries: z.number().int().min(1),
});
export type PairingStarted = z.infer<typeof PairingStarted>;

/** Body of `POST /v1/pair/:id/confirm`: the code as typed; spaces and dashes are ignored. */
export const PairingConfirm = z.strictObject({
  code: z.string().max(32),
});
export type PairingConfirm = z.infer<typeof PairingConfirm>;

export const PairingGranted = z.strictObject({ token: z.string().regex(/^[A-Za-z0-9_-]{16,256}$/) });
export type PairingGranted = z.infer<typeof PairingGranted>;

/** A code as the user typed it, reduced to its digits (`482 913`, `482-913` → `482913`). */
export function normalizePairingCode(typed: string): string {
  return typed.replace(/[\s-]/g, '');
}
