// The models the daemon can use, and turning a `--model` value into a folder:
//   - the bundled tiny model (test/fixtures/tiny-sd15; packaged: models/tiny-sd15), id `tiny-sd15`: the demo default;
//   - Stable Diffusion pipelines in the Hugging Face cache, id `org/name` (refs/main) or
//     `org/name@<ref or commit>`;
//   - folders listed in TOKENFLOW_MODELS (path-list separated like PATH): each entry is a
//     model folder or a folder of model folders; the id is the folder's path.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { bundledModelDir } from '../layout.ts';
import { CachedRepo, cachedRepos, hubCacheDir, isCommitHash, isRepoId } from './hf_cache.ts';
import { inspectModel, ModelValidationError, validateModel, type WeightPrecision } from './validate.ts';
import type { ModelInspector } from './report_cache.ts';

import { modelFoldersFromEnv, processEnv, type Env } from '../config.ts';

export const BUNDLED_MODEL_ID = 'tiny-sd15';


export interface ModelEntry {
  /** What to pass as `--model`. */
  id: string;
  source: 'bundled' | 'hf-cache' | 'folder';
  path: string;
  precision?: WeightPrecision;
  sizeBytes: number;
  ok: boolean;
  problems: string[];
}

/** A hub model reference `org/name` or `org/name@revision`. */
export function parseModelRef(text: string): { repoId: string; revision: string } | undefined {
  const at = text.indexOf('@');
  const repoId = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? 'main' : text.slice(at + 1);
  if (!isRepoId(repoId) || !revision || revision.includes('..')) return undefined;
  return { repoId, revision };
}

/** The snapshot folder of a cached revision, if the cache has it. */
export function cachedSnapshotDir(repoId: string, revision: string, env: Env = processEnv()): string | undefined {
  const repo = new CachedRepo(hubCacheDir(env), repoId);
  let commit = isCommitHash(revision) ? revision : repo.readRef(revision);
  if (!commit && revision === 'main') {
    // Downloaded by commit hash only (no ref written): unambiguous if there is one snapshot.
    const snapshots = repo.snapshots();
    if (snapshots.length === 1) commit = snapshots[0];
  }
  const dir = commit ? repo.snapshotDir(commit) : undefined;
  return dir && isDirectory(dir) ? dir : undefined;
}

export interface LocatedModel {
  dir: string;
  /** Set when the model came from the Hugging Face cache. */
  hub?: { repoId: string; revision: string };
}

/**
 * The folder a `--model` value names, unvalidated: an existing folder, `tiny-sd15`, or a hub id
 * (`org/name[@revision]`) already in the Hugging Face cache. Never downloads; throws a message
 * saying what to do otherwise.
 */
export function locateModel(idOrDir: string, env: Env = processEnv()): LocatedModel {
  if (isDirectory(idOrDir)) return { dir: path.resolve(idOrDir) };
  if (idOrDir === BUNDLED_MODEL_ID) return { dir: bundledModelDir() };
  const ref = looksLikePath(idOrDir) ? undefined : parseModelRef(idOrDir);
  if (!ref) throw new Error(`no model folder "${idOrDir}" (and it is not a hub model id like org/name)`);
  const dir = cachedSnapshotDir(ref.repoId, ref.revision, env);
  if (!dir) {
    throw new Error(`model ${idOrDir} is not in the Hugging Face cache (${hubCacheDir(env)}): run \`tokenflow models pull ${ref.repoId}${ref.revision === 'main' ? '' : ` --revision ${ref.revision}`}\`, or point HF_HOME / HF_HUB_CACHE at the cache that has it`);
  }
  return { dir, hub: ref };
}

/**
 * locateModel, then the folder's check (a ModelValidationError listing every problem): the
 * folder the daemon and CLI load for `--model`. `inspect` defaults to inspectModel in this
 * thread; the daemon passes its cached, off-thread inspector (report_cache.ts).
 */
export async function resolveModel(idOrDir: string, opts: { env?: Env; inspect?: ModelInspector } = {}): Promise<string> {
  const { dir, hub } = locateModel(idOrDir, opts.env ?? processEnv());
  const hint = hub ? `run \`tokenflow models pull ${hub.repoId}\` to fetch missing or broken files` : undefined;
  if (!opts.inspect) {
    await validateModel(dir, { hint });
    return dir;
  }
  const report = await opts.inspect(dir);
  if (!report.ok) throw new ModelValidationError(report, hint);
  return dir;
}

export async function listModels(env: Env = processEnv(), inspect: ModelInspector = inspectModel): Promise<ModelEntry[]> {
  const found: Array<Pick<ModelEntry, 'id' | 'source' | 'path'>> = [
    { id: BUNDLED_MODEL_ID, source: 'bundled', path: bundledModelDir() },
    ...cachePipelines(hubCacheDir(env)),
    ...configuredFolders(modelFoldersFromEnv(env)),
  ];
  const out: ModelEntry[] = [];
  for (const m of found) {
    if (!isDirectory(m.path)) {
      out.push({ ...m, sizeBytes: 0, ok: false, problems: ['folder does not exist'] });
      continue;
    }
    const report = await inspect(m.path);
    out.push({ ...m, precision: report.precision, sizeBytes: report.sizeBytes, ok: report.ok, problems: report.problems });
  }
  return out;
}

/** Cached snapshots that hold a Stable Diffusion-like pipeline (model_index.json naming a UNet and a text encoder). */
function cachePipelines(cacheDir: string): Array<Pick<ModelEntry, 'id' | 'source' | 'path'>> {
  const out: Array<Pick<ModelEntry, 'id' | 'source' | 'path'>> = [];
  for (const repo of cachedRepos(cacheDir)) {
    const refs = repo.refs();
    const named: Array<[string, string]> = refs.length ? refs : repo.snapshots().map((c) => [c, c]);
    const seen = new Set<string>();
    for (const [ref, commit] of named) {
      if (seen.has(commit)) continue;
      seen.add(commit);
      const dir = repo.snapshotDir(commit);
      if (!isPipelineFolder(dir)) continue;
      out.push({ id: ref === 'main' ? repo.repoId : `${repo.repoId}@${ref}`, source: 'hf-cache', path: dir });
    }
  }
  return out;
}

function configuredFolders(list: string | undefined): Array<Pick<ModelEntry, 'id' | 'source' | 'path'>> {
  const out: Array<Pick<ModelEntry, 'id' | 'source' | 'path'>> = [];
  for (const entry of (list ?? '').split(path.delimiter).filter(Boolean)) {
    const dir = path.resolve(entry);
    if (!isDirectory(dir) || existsSync(path.join(dir, 'model_index.json'))) {
      out.push({ id: dir, source: 'folder', path: dir });
      continue;
    }
    for (const name of readdirSync(dir).sort()) {
      const sub = path.join(dir, name);
      if (existsSync(path.join(sub, 'model_index.json'))) out.push({ id: sub, source: 'folder', path: sub });
    }
  }
  return out;
}

function isPipelineFolder(dir: string): boolean {
  try {
    const index = JSON.parse(readFileSync(path.join(dir, 'model_index.json'), 'utf8')) as Record<string, unknown>;
    return Array.isArray(index.unet) && Array.isArray(index.text_encoder);
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function looksLikePath(text: string): boolean {
  return /^(\.{1,2}[\\/]|[\\/~]|[A-Za-z]:)/.test(text) || text.includes('\\');
}

/** The reference's base model, preferred as the default when it is installed. */
const PREFERRED_DEFAULTS = ['stabilityai/stable-diffusion-2-1-base', 'stable-diffusion-v1-5/stable-diffusion-v1-5', 'runwayml/stable-diffusion-v1-5'];

/**
 * The model to use when none is configured: the reference's SD 2.1-base (or SD 1.5) if it is
 * installed, else any other usable installed model, else the bundled tiny model so that a
 * fresh install still runs end to end.
 */
export async function chooseDefaultModel(env: Env = processEnv(), inspect: ModelInspector = inspectModel): Promise<string> {
  const usable = (await listModels(env, inspect)).filter((m) => m.ok && m.source !== 'bundled');
  const preferred = PREFERRED_DEFAULTS.find((id) => usable.some((m) => m.id === id));
  return preferred ?? usable[0]?.id ?? BUNDLED_MODEL_ID;
}
