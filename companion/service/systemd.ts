// Linux: a systemd user unit (~/.config/systemd/user/tokenflow.service) enabled for the
// user's login session (default.target), restarted when it fails.
import path from 'node:path';
import { SERVICE_NAME, type ServiceSpec } from './spec.ts';

export function unitPath(home: string, xdgConfigHome: string | undefined): string {
  const config = xdgConfigHome && path.isAbsolute(xdgConfigHome) ? xdgConfigHome : path.join(home, '.config');
  return path.join(config, 'systemd', 'user', `${SERVICE_NAME}.service`);
}

/** One word of ExecStart= or a value of Environment=: double-quoted, with systemd's escapes. */
export function systemdQuote(word: string): string {
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$').replace(/\n/g, '\\n')}"`;
}

/** A path in a setting that takes no quotes (WorkingDirectory=, StandardOutput=append:): only % is special. */
function systemdPath(p: string): string {
  return p.replace(/%/g, '%%');
}

export function unitFile(spec: ServiceSpec): string {
  return [
    '[Unit]',
    'Description=TokenFlow companion (the daemon the Premiere panel talks to)',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${spec.command.map(systemdQuote).join(' ')}`,
    `WorkingDirectory=${systemdPath(spec.workingDir)}`,
    ...Object.entries(spec.environment).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`),
    `StandardOutput=append:${systemdPath(spec.logFile)}`,
    `StandardError=append:${systemdPath(spec.logFile)}`,
    'Restart=on-failure',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

export const systemctl = {
  prepare: [] as string[][],
  // restart, not start: a re-install (a moved package, new settings) replaces a running daemon.
  install: [['systemctl', '--user', 'daemon-reload'], ['systemctl', '--user', 'enable', `${SERVICE_NAME}.service`], ['systemctl', '--user', 'restart', `${SERVICE_NAME}.service`]],
  uninstall: [['systemctl', '--user', 'disable', '--now', `${SERVICE_NAME}.service`]],
  afterUninstall: [['systemctl', '--user', 'daemon-reload']],
  status: ['systemctl', '--user', 'is-active', `${SERVICE_NAME}.service`],
};
