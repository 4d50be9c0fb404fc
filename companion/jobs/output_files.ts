// Names and removal of renders in the daemon's output folder. Names are unique per job
// (they end in the job id's first 8 characters) and made only of safe characters; removal
// refuses anything that does not resolve to a file directly inside the output folder, or, for
// renders a studio farm's workers wrote to shared storage, that is not a plain file named as
// that job's render or preview frames.
import fs from 'node:fs';
import path from 'node:path';
import type { Codec } from '../../shared/jobs.ts';

/** Lowercase ASCII words joined by '-', at most `max` characters; `fallback` if nothing is left. */
export function slug(text: string, max: number, fallback: string): string {
  const ascii = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const words = ascii.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  let out = '';
  for (const w of words) {
    const next = out ? `${out}-${w}` : w;
    if (next.length > max) break;
    out = next;
  }
  return out || words[0]?.slice(0, max) || fallback;
}

/** `<clip>_<prompt>_<id8>`: the base name shared by every file of one job. */
export function outputBaseName(sourcePath: string, prompt: string, jobId: string): string {
  const clip = slug(path.basename(sourcePath.replace(/\\/g, '/')).replace(/\.[^.]*$/, ''), 40, 'clip');
  return `${clip}_${slug(prompt, 32, 'edit')}_${jobId.slice(0, 8)}`;
}

export function videoExtension(codec: Codec): '.mov' | '.mp4' {
  return codec === 'prores' ? '.mov' : '.mp4';
}

/**
 * True if `file` is directly inside `outputDir` (after resolving `..` and symlinks of the
 * folder), so a record edited by hand cannot make the daemon delete anything else.
 */
export function isInsideOutputDir(outputDir: string, file: string): boolean {
  let dir: string;
  try {
    dir = fs.realpathSync(outputDir);
  } catch {
    return false;
  }
  const resolved = path.resolve(file);
  let parent: string;
  try {
    parent = fs.realpathSync(path.dirname(resolved));
  } catch {
    return false;
  }
  return parent === dir && path.basename(resolved) !== '' && !path.basename(resolved).startsWith('..');
}

/** True if `file` is a plain file (not a link) named as the job's render or preview frame: `<base>.mov|.mp4`, `<base>_frame<N>.png`. */
export function isJobRender(file: string, baseName: string): boolean {
  const name = path.basename(file);
  if (name !== `${baseName}.mov` && name !== `${baseName}.mp4` && !new RegExp(`^${baseName}_frame\\d+\\.png$`).test(name)) return false;
  try {
    return fs.lstatSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Deletes a job's files: those inside the output folder and, with `elsewhereNamed` (the job's
 * base name, for a farm daemon whose renders live on shared storage), files elsewhere named as
 * that job's render; returns the ones it refused.
 */
export function removeJobFiles(outputDir: string, files: readonly string[], elsewhereNamed?: string): string[] {
  const refused: string[] = [];
  for (const f of files) {
    if (isInsideOutputDir(outputDir, f) || (elsewhereNamed !== undefined && isJobRender(f, elsewhereNamed))) fs.rmSync(path.resolve(f), { force: true });
    else refused.push(f);
  }
  return refused;
}

/**
 * Removes whatever a failed or canceled job left in the output folder: any entry whose name
 * contains the job's base name (temp files of an interrupted atomic write included).
 */
export function removeJobLeftovers(outputDir: string, baseName: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(outputDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.includes(baseName)) continue;
    fs.rmSync(path.join(outputDir, name), { force: true, recursive: true });
    removed.push(name);
  }
  return removed;
}
