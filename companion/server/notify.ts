// Desktop notifications for the pairing code, so a companion started at login (no window)
// can still show it. Best effort: the code is always in the log too, and a missing notifier
// (no notify-send, no desktop session) is only a debug line.
import { execFile } from 'node:child_process';
import { processEnv } from '../config.ts';

export interface NotifyCommand {
  file: string;
  args: string[];
}

/** The notifier of each OS, with the text passed as data, never through a shell. */
export function notifyCommand(platform: NodeJS.Platform, title: string, text: string): NotifyCommand | undefined {
  switch (platform) {
    case 'linux':
      return { file: 'notify-send', args: ['--app-name=TokenFlow', '--expire-time=120000', title, text] };
    case 'darwin':
      // osascript reads the strings from argv; nothing user-supplied is pasted into the script.
      return {
        file: 'osascript',
        args: ['-e', 'on run argv', '-e', 'display notification (item 2 of argv) with title (item 1 of argv)', '-e', 'end run', title, text],
      };
    case 'win32':
      // A tray balloon through Windows Forms (present on every Windows with PowerShell); the
      // strings arrive as environment variables, not in the script.
      return {
        file: 'powershell.exe',
        args: [
          '-NoProfile',
          '-NonInteractive',
          '-Command',
          'Add-Type -AssemblyName System.Windows.Forms; $n = New-Object System.Windows.Forms.NotifyIcon; ' +
            '$n.Icon = [System.Drawing.SystemIcons]::Information; $n.Visible = $true; ' +
            '$n.ShowBalloonTip(60000, $env:TOKENFLOW_NOTIFY_TITLE, $env:TOKENFLOW_NOTIFY_TEXT, [System.Windows.Forms.ToolTipIcon]::Info); ' +
            'Start-Sleep -Seconds 60; $n.Dispose()',
        ],
      };
    default:
      return undefined;
  }
}

/** Shows a notification; failures go to `onError` (the daemon logs them at debug level). */
export function notifyDesktop(title: string, text: string, onError: (message: string) => void): void {
  const command = notifyCommand(process.platform, title, text);
  if (command === undefined) return;
  const env = process.platform === 'win32' ? { ...processEnv(), TOKENFLOW_NOTIFY_TITLE: title, TOKENFLOW_NOTIFY_TEXT: text } : processEnv();
  const child = execFile(command.file, command.args, { env, timeout: 90_000, windowsHide: true }, (err) => {
    if (err) onError(`${command.file}: ${err.message}`);
  });
  child.unref();
}
