// The models the daemon can offer (GET /v1/models, health): diffusers pipelines in the
// Hugging Face hub cache (what `tokenflow models pull` and diffusers download into), plus the
// folder given with `--model DIR`. A pipeline counts as installed when its snapshot folder
// has a model_index.json.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ModelInfo } from '../../shared/health.ts';
import { ModelId } from '../../shared/jobs.ts';
import { cachedRepos, CachedRepo, isRepoId } from '../models/hf_cache.ts';

/** How the user named the default model: a diffusers folder on disk, or a hub repo id. */
export type DefaultModel = { kind: 'dir'; id: string; path: string } | { kind: 'hub'; id: string };

/**
 * Reads `--model DIR|org/name`. A value that names an existing folder is a folder (it must
 * hold model_index.json); otherwise it must be a hub repo id.
 */
export function parseDefaultModel(value: string, cwd: string = process.cwd()): DefaultModel {
  const dir = path.resolve(cwd, value);
  if (existsSync(dir) && statSync(dir).isDirectory()) {
    if (!existsSync(path.join(dir, 'model_index.json'))) {
      throw new Error(`model folder ${dir} has no model_index.json: it is not a diffusers pipeline folder`);
    }
    return { kind: 'dir', id: folderModelId(dir), path: dir };
  }
  if (!isRepoId(value) || !ModelId.safeParse(value).success) {
    throw new Error(`model "${value}" is neither an existing folder nor a hub id like "org/name"`);
  }
  return { kind: 'hub', id: value };
}

export interface CatalogOptions {
  defaultModel?: DefaultModel;
  /** The hub cache folder (companion/models/hf_cache.ts hubCacheDir()). */
  hubCache: string;
}

export function listInstalledModels(opts: CatalogOptions): ModelInfo[] {
  const models: ModelInfo[] = [];
  const defaultId = opts.defaultModel?.id;
  if (opts.defaultModel?.kind === 'dir') {
    models.push({ id: opts.defaultModel.id, path: opts.defaultModel.path, is_default: true, size_bytes: null });
  }
  for (const repo of cachedRepos(opts.hubCache)) {
    if (models.some((m) => m.id === repo.repoId)) continue;
    const snapshot = installedSnapshot(repo);
    if (snapshot === undefined || !ModelId.safeParse(repo.repoId).success) continue;
    models.push({ id: repo.repoId, path: snapshot, is_default: repo.repoId === defaultId, size_bytes: null });
  }
  return models;
}

/** The snapshot `refs/main` points to, else the newest one, if it holds a pipeline. */
function installedSnapshot(repo: CachedRepo): string | undefined {
  const commit = repo.readRef('main') ?? newestSnapshot(repo);
  if (commit === undefined) return undefined;
  const dir = repo.snapshotDir(commit);
  return existsSync(path.join(dir, 'model_index.json')) ? dir : undefined;
}

function newestSnapshot(repo: CachedRepo): string | undefined {
  let newest: { commit: string; mtime: number } | undefined;
  for (const commit of repo.snapshots()) {
    const mtime = statSync(repo.snapshotDir(commit)).mtimeMs;
    if (!newest || mtime > newest.mtime) newest = { commit, mtime };
  }
  return newest?.commit;
}

/** A ModelId for a folder: its name, with characters a model id cannot hold replaced. */
function folderModelId(dir: string): string {
  const cleaned = path.basename(dir).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned === '' ? 'local-model' : cleaned.slice(0, 200);
}
