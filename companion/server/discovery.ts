// `<dataDir>/daemon.json`: written by a running `tokenflow serve` so that other commands on
// this machine (`tokenflow jobs ...`) find it even on a non-default port. Owner-only (0600);
// it holds no secret (the token stays in the config folder), only where to connect.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseJsonAs } from '../../shared/parse_json.ts';
import { processAlive } from '../util/process.ts';

export const DAEMON_FILE = 'daemon.json';

const DaemonInfo = z.object({
  pid: z.number().int().positive(),
  url: z.string().url(),
  version: z.string(),
  started_at: z.string(),
});
export type DaemonInfo = z.infer<typeof DaemonInfo>;

export function daemonFilePath(dataDir: string): string {
  return path.join(dataDir, DAEMON_FILE);
}

export async function writeDaemonFile(dataDir: string, info: DaemonInfo): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = daemonFilePath(dataDir);
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(temp, file);
}

/** The running daemon's info; undefined if there is none (no file, or its process is gone). */
export async function readDaemonFile(dataDir: string): Promise<DaemonInfo | undefined> {
  let raw: string;
  try {
    raw = await fs.readFile(daemonFilePath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const info = parseJsonAs(DaemonInfo, raw);
  return info && processAlive(info.pid) ? info : undefined;
}

/** Removes the file if it still describes this process (a newer daemon may have replaced it). */
export async function removeDaemonFile(dataDir: string, pid: number = process.pid): Promise<void> {
  const file = daemonFilePath(dataDir);
  // Unreadable, not a daemon's, or already gone: remove whatever is there.
  const info = parseJsonAs(DaemonInfo, await fs.readFile(file, 'utf8').catch(() => null));
  if (info && info.pid !== pid) return;
  await fs.rm(file, { force: true });
}
