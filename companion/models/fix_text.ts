// Prompt clean-up of transformers' CLIPTokenizer (4.38): `whitespace_clean(ftfy.fix_text(text))`.
// Mirrors ftfy 6.1.1 `fix_text` with its default config, minus `fix_encoding` (mojibake repair,
// e.g. "cafÃ©" -> "café"): that step is a large statistical heuristic, and a typed prompt is
// already valid Unicode. Every other default fixer is here, in ftfy's order, repeated per line
// until nothing changes, as ftfy does:
// https://github.com/rspeer/python-ftfy/blob/v6.1.1/ftfy/__init__.py#L319
import { HTML_ENTITIES } from './html_entities.ts';

/** Bytes 0x80-0x9F as Windows-1252, the 5 undefined ones kept as C1 controls: ftfy's
 * "sloppy-windows-1252", and CPython's html.unescape table. (Node's TextDecoder treats
 * "windows-1252" as Latin-1, so the table is spelled out.) */
const CP1252_C1 =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f'
  + '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';
const cp1252 = (c: string): string => CP1252_C1[c.charCodeAt(0) - 0x80];

const LIGATURES: Record<string, string> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž',
  'ǆ': 'dž', 'Ǉ': 'LJ', 'ǈ': 'Lj', 'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj',
  'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'ſt', 'ﬆ': 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');

/** Python's `str.isspace()` set, which `re`'s `\s` and `str.strip()` use (JS `\s` differs:
 * it lacks U+001C-U+001F and U+0085 and has U+FEFF). */
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'g');
const PY_SPACE_ENDS = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** CPython html.unescape: code points it drops from numeric references. */
function isInvalidCodePoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f)
    || (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

/** A numeric reference `&#65;` / `&#x41;` as CPython's html.unescape decodes it, or null when
 * it would consume only part of the match (ftfy then leaves the text alone). */
function decodeNumericReference(entity: string): string | null {
  const m = /^&#(?:([0-9]+)|[xX]([0-9a-fA-F]+));$/.exec(entity);
  if (!m) return null;
  const n = m[1] !== undefined ? Number(m[1]) : parseInt(m[2], 16);
  if (n === 0) return '\ufffd';
  if (n === 0x0d) return '\r';
  if (n >= 0x80 && n <= 0x9f) return cp1252(String.fromCharCode(n));
  if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) return '\ufffd';
  if (isInvalidCodePoint(n)) return '';
  return String.fromCodePoint(n);
}

function unescapeHtml(text: string): string {
  return text.replace(/&#?[0-9A-Za-z]{1,24};/g, (entity) =>
    HTML_ENTITIES.get(entity) ?? (entity.startsWith('&#') ? decodeNumericReference(entity) : null) ?? entity);
}

function fixCharacterWidth(text: string): string {
  return text.replace(/[\u3000\uff01-\uffef]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
}

/** The fixers that follow `fix_encoding` in ftfy's loop, in its order. */
const FIXERS: ReadonlyArray<(text: string) => string> = [
  (t) => t.replace(/[\x80-\x9f]/g, cp1252), // fix_c1_controls
  (t) => t.replace(LIGATURE_RE, (c) => LIGATURES[c]), // fix_latin_ligatures
  fixCharacterWidth, // fix_character_width
  (t) => t.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'"), // uncurl_quotes
  (t) => t.replace(/\r\n|[\r\u2028\u2029\x85]/g, '\n'), // fix_line_breaks
  (t) => t.replace(/[\ud800-\udfff]/gu, '\ufffd'), // fix_surrogates: pairs are already joined in JS
  (t) => t.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, ''), // remove_terminal_escapes (Python \d is Unicode)
  (t) => t.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, ''), // remove_control_chars
  (t) => t.normalize('NFC'),
];

function fixSegment(segment: string, unescape: boolean): string {
  let text = segment;
  for (;;) {
    const before = text;
    if (unescape) text = unescapeHtml(text);
    for (const fix of FIXERS) text = fix(text);
    if (text === before) return text;
  }
}

/** ftfy.fix_text (default config, without mojibake repair). HTML entities are decoded only
 * until the first line that contains '<' (ftfy's `unescape_html="auto"`, sticky per call). */
export function fixText(text: string): string {
  let unescape = true;
  const out: string[] = [];
  for (let pos = 0; pos < text.length; ) {
    const lineEnd = text.indexOf('\n', pos);
    const end = lineEnd < 0 ? text.length : lineEnd + 1;
    const segment = text.slice(pos, end);
    if (segment.includes('<')) unescape = false;
    out.push(fixSegment(segment, unescape));
    pos = end;
  }
  return out.join('');
}

/** CLIP's `whitespace_clean`: runs of (Python) whitespace become one space; ends stripped. */
export function whitespaceClean(text: string): string {
  return text.replace(PY_SPACE_RUN, ' ').replace(PY_SPACE_ENDS, '');
}
