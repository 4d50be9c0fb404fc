// The pull lock: one pull per repository at a time, in this process and across processes.
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { CachedRepo } from './hf_cache.ts';
import { HubError } from './hub_client.ts';
import { processAlive } from '../util/process.ts';

/** Repos being pulled by this process (the lock file below covers other processes). */
const pullingHere = new Set<string>();

/**
 * One pull per repository at a time, across processes (the daemon and the CLI may both pull):
 * a lock file holding the owner's pid, created atomically (hard link of a finished temp file)
 * and taken over when that process is gone.
 */
export async function lockRepo(repo: CachedRepo): Promise<() => Promise<void>> {
  const lockDir = path.join(repo.cacheDir, '.locks', path.basename(repo.dir));
  const lockFile = path.join(lockDir, 'tokenflow-pull.lock');
  const busy = (pid: number) => new HubError('busy', `${repo.repoId} is already being pulled (process ${pid}); wait for it to finish or stop it`);
  if (pullingHere.has(lockFile)) throw busy(process.pid);
  pullingHere.add(lockFile);
  const tmp = `${lockFile}.${process.pid}.tmp`;
  try {
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(tmp, String(process.pid));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, lockFile);
        return async () => {
          pullingHere.delete(lockFile);
          await rm(lockFile, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(readFileSyncSafe(lockFile));
        if (owner && owner !== process.pid && processAlive(owner)) throw busy(owner);
        // The owner is gone (crashed or killed): take the lock over.
        rmSync(lockFile, { force: true });
      }
    }
    throw new HubError('busy', `${repo.repoId}: could not take the pull lock ${lockFile}`);
  } catch (err) {
    pullingHere.delete(lockFile);
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readFileSyncSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
