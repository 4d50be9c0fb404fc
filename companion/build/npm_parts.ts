// Fetches the packaged companion's parts from the npm registry with `npm pack` (no other
// download), checks each tarball against its pinned integrity, and unpacks it. Tarballs are
// cached in .cache/npm/ (gitignored), so packaging again, and the tests, reuse them.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NpmPart } from './targets.ts';

const run = promisify(execFile);

export interface PinnedPackage {
  name: string;
  version: string;
  integrity: string;
}

type LockPackages = Record<string, { version?: string; integrity?: string }>;

/** Version and integrity of a part: as the target table pins it, else as package-lock.json does. */
export function pinPart(part: NpmPart, lockfile: { packages: LockPackages }): PinnedPackage {
  const locked = lockfile.packages[`node_modules/${part.name}`];
  const version = part.version ?? locked?.version;
  const integrity = part.integrity ?? (locked?.version === version ? locked?.integrity : undefined);
  if (!version || !integrity) {
    throw new Error(`${part.name} is not pinned: give it a version and integrity in companion/build/targets.ts or add it to package-lock.json`);
  }
  return { name: part.name, version, integrity };
}

export function readLockfile(repoRoot: string): { packages: LockPackages } {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: LockPackages };
}

/** `sha512-<base64>` of a file, the form npm's integrity fields use. */
export function fileIntegrity(file: string): string {
  return `sha512-${createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

/** The package's tarball in cacheDir, packed from the registry when not there yet. */
export async function fetchTarball(pkg: PinnedPackage, cacheDir: string): Promise<string> {
  fs.mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, `${pkg.name.replace(/^@/, '').replace('/', '-')}-${pkg.version}.tgz`);
  if (!fs.existsSync(file)) {
    const scratch = fs.mkdtempSync(path.join(cacheDir, '.pack-'));
    try {
      const { stdout } = await run(npmCommand(), ['pack', `${pkg.name}@${pkg.version}`, '--json', '--pack-destination', scratch], {
        maxBuffer: 64 * 1024 * 1024,
        shell: process.platform === 'win32',
      });
      const [packed] = JSON.parse(stdout) as { filename: string }[];
      fs.renameSync(path.join(scratch, packed!.filename), file);
    } catch (err) {
      throw new Error(`npm pack ${pkg.name}@${pkg.version} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  const actual = fileIntegrity(file);
  if (actual !== pkg.integrity) {
    fs.rmSync(file);
    throw new Error(`${pkg.name}@${pkg.version}: the tarball's integrity ${actual} is not the pinned ${pkg.integrity}; removed it from the cache`);
  }
  return file;
}

/**
 * Unpacks an npm tarball (its files under package/) into dest; returns dest. With `keep`,
 * only the entries whose path inside the package passes it (big packages carry every
 * platform's binaries, or headers, that the companion does not ship).
 */
export async function unpackTarball(tarball: string, dest: string, keep?: (file: string) => boolean): Promise<string> {
  fs.mkdirSync(dest, { recursive: true });
  let members: string[] = [];
  if (keep) {
    const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 256 * 1024 * 1024 });
    members = stdout.split(/\r?\n/).filter((entry) => entry.startsWith('package/') && !entry.endsWith('/') && keep(entry.slice('package/'.length)));
    if (members.length === 0) return dest;
  }
  await run('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1', ...members], { maxBuffer: 64 * 1024 * 1024 });
  return dest;
}

function npmCommand(): string {
  return process.platform === 'win32' ? 'npm.cmd' : 'npm';
}
