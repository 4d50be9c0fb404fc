// The log of the long-running commands (`tokenflow serve`, `tokenflow worker`): one line per
// message, time and level first; warnings and errors on stderr. Debug lines only with
// TOKENFLOW_DEBUG.
import type { LogLevel } from '../../shared/events.ts';
import { debugFromEnv } from '../config.ts';

export function log(level: LogLevel, text: string): void {
  if (level === 'debug' && !debugFromEnv()) return;
  const line = `${new Date().toISOString()} ${level.padEnd(5)} ${text}`;
  if (level === 'warn' || level === 'error') console.error(line);
  else console.log(line);
}
