// Path mapping between an editor's machine and a farm worker (`--path-map FROM=TO`): the same
// shared storage is `/Volumes/Projects` on a Mac, `P:\` on Windows and `/mnt/projects` on a
// Linux worker. Pure string work, the same on every OS the worker runs on.
//
// Rules: a Windows-style side (a drive letter `P:` or a UNC `\\server\share`) matches with
// either separator and ignoring case, as Windows does; a POSIX side matches exactly (case
// included). A prefix matches whole path components only, and the longest matching prefix
// wins. The rest of the path is re-joined with the other side's separator.

export interface PathMapping {
  from: string;
  to: string;
}

/** Parses one `FROM=TO` value (split at the first `=`). */
export function parsePathMapping(value: string): PathMapping {
  const at = value.indexOf('=');
  const from = at < 0 ? '' : value.slice(0, at).trim();
  const to = at < 0 ? '' : value.slice(at + 1).trim();
  if (!from || !to) throw new Error(`a path mapping is FROM=TO (e.g. /Volumes/Projects=/mnt/projects), got "${value}"`);
  for (const side of [from, to]) {
    if (!isWindowsStyle(side) && !side.startsWith('/')) throw new Error(`path mapping "${value}": "${side}" is not an absolute path`);
  }
  return { from, to };
}

/** The editor's path as the worker sees it, or null when no mapping covers it. */
export function mapPath(file: string, mappings: readonly PathMapping[]): string | null {
  return translate(file, mappings.map((m) => [m.from, m.to] as const));
}

/** A worker's path as the editor sees it (the mappings read backwards), or null. */
export function unmapPath(file: string, mappings: readonly PathMapping[]): string | null {
  return translate(file, mappings.map((m) => [m.to, m.from] as const));
}

function translate(file: string, pairs: readonly (readonly [string, string])[]): string | null {
  let best: { rest: string[]; to: string; length: number } | null = null;
  for (const [from, to] of pairs) {
    const rest = remainder(file, from);
    if (rest !== null && (best === null || from.length > best.length)) best = { rest, to, length: from.length };
  }
  if (best === null) return null;
  return join(best.to, best.rest);
}

/** The components of `file` after `prefix`, or null when `prefix` does not cover it. */
function remainder(file: string, prefix: string): string[] | null {
  const windows = isWindowsStyle(prefix);
  const fileParts = split(file, windows);
  const prefixParts = split(prefix, windows);
  if (prefixParts.length > fileParts.length) return null;
  for (let i = 0; i < prefixParts.length; i++) {
    const a = fileParts[i]!;
    const b = prefixParts[i]!;
    if (windows ? a.toLowerCase() !== b.toLowerCase() : a !== b) return null;
  }
  return fileParts.slice(prefixParts.length);
}

/** Components; a leading root (`/`, `\\` of a UNC path) is kept as the first part. */
function split(p: string, windows: boolean): string[] {
  const parts = p.split(windows ? /[\\/]+/ : /\/+/);
  const root = windows ? (/^[\\/]{2}/.test(p) ? '\\\\' : '') : p.startsWith('/') ? '/' : '';
  const body = parts.filter((s) => s !== '');
  return root ? [root, ...body] : body;
}

function join(base: string, rest: string[]): string {
  if (rest.length === 0) return base;
  const sep = isWindowsStyle(base) ? '\\' : '/';
  return base.replace(/[\\/]+$/, '') + sep + rest.join(sep);
}

function isWindowsStyle(p: string): boolean {
  return /^[A-Za-z]:([\\/]|$)/.test(p) || /^\\\\[^\\]/.test(p);
}
