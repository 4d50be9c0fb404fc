// Small exact helpers for the rationals ffprobe prints ("30000/1001", "1:1").
import type { Rational } from './types.ts';

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Lowest terms, positive denominator. */
export function reduce(r: Rational): Rational {
  const g = gcd(r.num, r.den) || 1;
  const sign = r.den < 0 ? -1 : 1;
  return { num: (sign * r.num) / g, den: (sign * r.den) / g };
}

/** Parses 'a/b' or 'a:b' (or a whole number); undefined for '0/0', 'N/A' and anything with a zero side. */
export function parseRational(text: string | undefined): Rational | undefined {
  if (!text) return undefined;
  const m = /^\s*(-?\d+)(?:\s*[/:]\s*(\d+))?\s*$/.exec(text);
  if (!m) return undefined;
  const num = Number(m[1]);
  const den = m[2] === undefined ? 1 : Number(m[2]);
  if (num === 0 || den === 0) return undefined;
  return reduce({ num, den });
}

export function rationalToString(r: Rational): string {
  return `${r.num}/${r.den}`;
}
