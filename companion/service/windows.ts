// Windows: a value under HKCU\Software\Microsoft\Windows\CurrentVersion\Run (per user, no
// administrator rights, unlike an at-logon Scheduled Task) that starts a small VBScript with
// wscript. The script runs the daemon without a console window, its output appended to the log.
import path from 'node:path';
import { SERVICE_NAME, type ServiceSpec } from './spec.ts';

export const RUN_KEY = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run';
export const RUN_VALUE = 'TokenFlow';

export function scriptPath(dataDir: string): string {
  return path.join(dataDir, `${SERVICE_NAME}-service.vbs`);
}

/** A VBScript string literal. */
function vbs(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}

/** A word on a cmd.exe command line. */
function cmdWord(word: string): string {
  return `"${word}"`;
}

export function launchScript(spec: ServiceSpec): string {
  // cmd /c "<line>": cmd drops the outer quotes and runs the line, redirections included.
  const line = `${spec.command.map(cmdWord).join(' ')} >> ${cmdWord(spec.logFile)} 2>&1`;
  return [
    "' TokenFlow companion, started at login (tokenflow service install): runs the daemon",
    "' without a console window, appending its output to the log file.",
    'Set shell = CreateObject("WScript.Shell")',
    'Set env = shell.Environment("Process")',
    ...Object.entries(spec.environment).map(([k, v]) => `env(${vbs(k)}) = ${vbs(v)}`),
    `shell.CurrentDirectory = ${vbs(spec.workingDir)}`,
    `shell.Run ${vbs(`cmd /c "${line}"`)}, 0, False`,
    '',
  ].join('\r\n');
}

export function runCommand(script: string): string[] {
  return ['wscript.exe', '//B', '//Nologo', script];
}

export function reg(script: string) {
  const value = runCommand(script).map((w) => (w.includes(' ') || w === script ? `"${w}"` : w)).join(' ');
  return {
    prepare: [] as string[][],
    install: [['reg', 'add', RUN_KEY, '/v', RUN_VALUE, '/t', 'REG_SZ', '/d', value, '/f'], runCommand(script)],
    uninstall: [['reg', 'delete', RUN_KEY, '/v', RUN_VALUE, '/f']],
    afterUninstall: [] as string[][],
    status: ['reg', 'query', RUN_KEY, '/v', RUN_VALUE],
  };
}
