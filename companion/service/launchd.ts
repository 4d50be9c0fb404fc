// macOS: a LaunchAgent (~/Library/LaunchAgents/org.tokenflow.companion.plist), loaded into the
// user's GUI session, started at login and restarted when it exits with an error.
import path from 'node:path';
import { SERVICE_LABEL, type ServiceSpec } from './spec.ts';

export function plistPath(home: string): string {
  return path.join(home, 'Library', 'LaunchAgents', `${SERVICE_LABEL}.plist`);
}

export function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const str = (s: string) => `<string>${xmlEscape(s)}</string>`;

export function plist(spec: ServiceSpec): string {
  const env = Object.entries(spec.environment);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key>${str(SERVICE_LABEL)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...spec.command.map((w) => `    ${str(w)}`),
    '  </array>',
    `  <key>WorkingDirectory</key>${str(spec.workingDir)}`,
    ...(env.length ? ['  <key>EnvironmentVariables</key>', '  <dict>', ...env.map(([k, v]) => `    <key>${xmlEscape(k)}</key>${str(v)}`), '  </dict>'] : []),
    '  <key>RunAtLoad</key><true/>',
    '  <key>KeepAlive</key>',
    '  <dict><key>SuccessfulExit</key><false/></dict>',
    `  <key>StandardOutPath</key>${str(spec.logFile)}`,
    `  <key>StandardErrorPath</key>${str(spec.logFile)}`,
    '  <key>ProcessType</key><string>Interactive</string>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

export function launchctl(uid: number, file: string) {
  const domain = `gui/${uid}`;
  return {
    // bootstrap refuses a label that is loaded already: unload an earlier install first.
    prepare: [['launchctl', 'bootout', `${domain}/${SERVICE_LABEL}`]],
    install: [['launchctl', 'bootstrap', domain, file]],
    uninstall: [['launchctl', 'bootout', `${domain}/${SERVICE_LABEL}`]],
    afterUninstall: [] as string[][],
    status: ['launchctl', 'print', `${domain}/${SERVICE_LABEL}`],
  };
}
