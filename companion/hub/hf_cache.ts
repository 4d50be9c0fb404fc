// The Hugging Face hub cache, the on-disk layout shared by huggingface_hub (Python),
// @huggingface/hub, hf-hub (Rust) and diffusers, so a model pulled here is found by them
// and a model they downloaded is reused here:
//
//   <cache>/models--<org>--<name>/
//     blobs/<hash>                      file contents; <hash> = the LFS sha256 for LFS files,
//                                       the git blob sha1 for small files (the hub's ETag)
//     blobs/<hash>.incomplete           a download in progress (resumable)
//     refs/<revision>                   the commit hash a branch/tag pointed to, no newline
//     snapshots/<commit>/<path>         relative symlink to ../../blobs/<hash>
//                                       (a copy where symlinks are not allowed, e.g. Windows
//                                       without developer mode)
//
// Cache root: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (legacy name), else $HF_HOME/hub,
// else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (on every platform).
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { hubEnv, processEnv, type Env } from '../config.ts';

/** `org/name` (or a legacy un-namespaced `name`), as the hub spells repository ids. */
const REPO_ID = /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/;

export function isRepoId(text: string): boolean {
  return REPO_ID.test(text) && !text.includes('--') && !text.includes('..') && !text.endsWith('.');
}

/** A 40-hex git commit hash (refs hold these; a revision may be one). */
export function isCommitHash(text: string): boolean {
  return /^[0-9a-f]{40}$/.test(text);
}

function expandHome(p: string, home: string): string {
  return p === '~' || p.startsWith('~/') || p.startsWith('~\\') ? path.join(home, p.slice(1)) : p;
}

export function hubCacheDir(env: Env = processEnv(), home: string = os.homedir()): string {
  const { hubCache, hfHome: hfHomeVar, xdgCache } = hubEnv(env);
  if (hubCache) return path.resolve(expandHome(hubCache, home));
  const hfHome = hfHomeVar
    ? expandHome(hfHomeVar, home)
    : path.join(xdgCache ? expandHome(xdgCache, home) : path.join(home, '.cache'), 'huggingface');
  return path.resolve(hfHome, 'hub');
}

/** One model repository's folder in the cache. */
export class CachedRepo {
  readonly dir: string;

  constructor(readonly cacheDir: string, readonly repoId: string) {
    this.dir = path.join(cacheDir, `models--${repoId.split('/').join('--')}`);
  }

  /** The repo id a `models--org--name` folder stands for, or undefined for other folders. */
  static repoIdOfFolder(folder: string): string | undefined {
    if (!folder.startsWith('models--')) return undefined;
    const id = folder.slice('models--'.length).split('--').join('/');
    return isRepoId(id) ? id : undefined;
  }

  blobPath(hash: string): string {
    return path.join(this.dir, 'blobs', hash);
  }

  snapshotDir(commit: string): string {
    return path.join(this.dir, 'snapshots', commit);
  }

  /** The commit a ref (branch/tag name) points to, if the cache has it. */
  readRef(revision: string): string | undefined {
    try {
      const commit = readFileSync(path.join(this.dir, 'refs', revision), 'utf8').trim();
      return isCommitHash(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  writeRef(revision: string, commit: string): void {
    const file = path.join(this.dir, 'refs', revision);
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, commit);
    renameSync(tmp, file);
  }

  /** All refs as [name, commit], including nested ones like `refs/pr/1`. */
  refs(): Array<[string, string]> {
    const root = path.join(this.dir, 'refs');
    const out: Array<[string, string]> = [];
    const walk = (rel: string) => {
      let entries;
      try {
        entries = readdirSync(path.join(root, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const name = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(name);
        else {
          const commit = this.readRef(name);
          if (commit) out.push([name, commit]);
        }
      }
    };
    walk('');
    return out.sort(([a], [b]) => (a === 'main' ? -1 : b === 'main' ? 1 : a.localeCompare(b)));
  }

  snapshots(): string[] {
    try {
      return readdirSync(path.join(this.dir, 'snapshots')).filter(isCommitHash).sort();
    } catch {
      return [];
    }
  }

  /**
   * Puts `snapshots/<commit>/<file>` in place as a relative symlink to the blob, or as a copy
   * where the file system or OS refuses symlinks. Returns how it was placed.
   */
  placeSnapshotFile(commit: string, file: string, hash: string): 'link' | 'copy' {
    const target = path.join(this.snapshotDir(commit), ...file.split('/'));
    const blob = this.blobPath(hash);
    mkdirSync(path.dirname(target), { recursive: true });
    if (existsOrLink(target)) rmSync(target, { force: true });
    try {
      symlinkSync(path.relative(path.dirname(target), blob), target);
      return 'link';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP' && code !== 'EINVAL' && code !== 'ENOSYS') throw err;
      const tmp = `${target}.${process.pid}.tmp`;
      copyFileSync(blob, tmp);
      renameSync(tmp, target);
      return 'copy';
    }
  }
}

function existsOrLink(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return existsSync(p);
  }
}

/** Every `models--*` repository folder in the cache. */
export function cachedRepos(cacheDir: string): CachedRepo[] {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return [];
  }
  return names
    .map((n) => CachedRepo.repoIdOfFolder(n))
    .filter((id): id is string => id !== undefined)
    .sort()
    .map((id) => new CachedRepo(cacheDir, id));
}
