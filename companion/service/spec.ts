// What a login service runs: this Node with the `tokenflow` script, `serve`, the settings of
// the shell that installed it, and where its output goes. The per-platform files
// (systemd.ts, launchd.ts, windows.ts) are generated from this.
import os from 'node:os';
import path from 'node:path';
import { processEnv, queueFromEnv, queuePasswordPath, type Folders } from '../config.ts';
import { cliScript } from '../layout.ts';

/**
 * Settings passed on from the installing shell: every one `tokenflow serve` reads. HF_TOKEN and
 * TOKENFLOW_QUEUE_PASSWORD are not: service files are not secret stores (they are 0644); the
 * password goes to the owner-only file the daemon reads instead (`queuePassword`).
 */
export const SERVICE_ENV = [
  'TOKENFLOW_HOME', 'TOKENFLOW_PORT', 'TOKENFLOW_OUTPUT_DIR', 'TOKENFLOW_MODEL', 'TOKENFLOW_MODELS',
  'TOKENFLOW_PROVIDERS', 'TOKENFLOW_PRECISION', 'TOKENFLOW_FFMPEG', 'TOKENFLOW_FFPROBE', 'TOKENFLOW_CACHE_DIR',
  'TOKENFLOW_INVERSION_CACHE_GB', 'TOKENFLOW_QUEUE', 'TOKENFLOW_DEBUG',
  'HF_HOME', 'HF_HUB_CACHE', 'HF_ENDPOINT',
  // Where the folders are on Linux: a login service does not get the shell's values.
  'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME',
] as const;

export const SERVICE_NAME = 'tokenflow';
export const SERVICE_LABEL = 'org.tokenflow.companion';
export const LOG_FILE = 'service.log';

export interface ServiceSpec {
  /** Program and arguments, each a separate word. */
  command: string[];
  /** Appended stdout and stderr of the daemon. */
  logFile: string;
  environment: Record<string, string>;
  /** The daemon's working folder (the data folder: nothing is written relative to it). */
  workingDir: string;
  home: string;
  /** TOKENFLOW_QUEUE_PASSWORD of the installing shell (undefined when unset) and the file it is kept in. */
  queuePassword: { file: string; value: string | undefined };
}

export function serviceSpec(folders: Folders, env: Record<string, string | undefined> = processEnv(), execPath = process.execPath, script = cliScript()): ServiceSpec {
  const environment: Record<string, string> = {};
  for (const name of SERVICE_ENV) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') environment[name] = value;
  }
  return {
    command: [execPath, script, 'serve'],
    logFile: path.join(folders.dataDir, LOG_FILE),
    environment,
    workingDir: folders.dataDir,
    home: os.homedir(),
    queuePassword: { file: queuePasswordPath(folders.configDir), value: queueFromEnv(env).password },
  };
}

/** Before an install: a password in the queue address would end up in the (world-readable) service file. */
export function refusePasswordInQueue(queue: string | undefined): void {
  if (queue === undefined || !URL.canParse(queue) || new URL(queue).password === '') return;
  throw new Error('TOKENFLOW_QUEUE holds a password, and service files are readable by every user of this machine, '
    + 'so the service is not installed with it: set TOKENFLOW_QUEUE to the address without the password and '
    + 'TOKENFLOW_QUEUE_PASSWORD to the password, then install again (the service keeps the password in a file only you can read)');
}
