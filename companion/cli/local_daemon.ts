// The daemon of this machine's configuration, for CLI commands that talk to it over its REST
// API (`tokenflow jobs`): where it listens and its token, found the way the daemon itself
// resolves them (companion/config.ts), wrapped in the shared client.
import { DaemonClient } from '../../shared/daemon_client.ts';
import { daemonUrlFromEnv, DEFAULT_PORT, portFromEnv, processEnv, resolveFolders, type Env } from '../config.ts';
import { readDaemonFile } from '../server/discovery.ts';
import { readToken, tokenPath } from '../server/token.ts';

/**
 * A client for the daemon of this machine's configuration: the URL from `url` (a flag),
 * else TOKENFLOW_URL, else the running daemon's discovery file, else the default port; the
 * token from the config folder.
 */
export async function localDaemonClient(url?: string, env: Env = processEnv()): Promise<DaemonClient> {
  const folders = resolveFolders(env);
  const token = await readToken(folders.configDir);
  if (token === undefined) {
    throw new Error(
      `no token at ${tokenPath(folders.configDir)}: no TokenFlow daemon has run with this configuration; start one with \`tokenflow serve\``,
    );
  }
  const base = url ?? daemonUrlFromEnv(env) ?? (await readDaemonFile(folders.dataDir))?.url ?? `http://127.0.0.1:${portFromEnv(env)}`;
  try {
    new URL(base);
  } catch {
    throw new Error(`daemon URL "${base}" is not a URL (expected e.g. http://127.0.0.1:${DEFAULT_PORT})`);
  }
  return new DaemonClient({ baseUrl: base, token, fetch: (input, init) => fetch(input, init) });
}
