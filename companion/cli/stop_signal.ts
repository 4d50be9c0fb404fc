// How the long-running commands (`tokenflow serve`, `tokenflow worker`) stop: the first
// SIGINT (Ctrl-C) or SIGTERM starts a clean stop; a second one exits at once, for a stop that
// hangs.
import { log } from './console_log.ts';

/** Resolves on the first SIGINT or SIGTERM, logging `${signal}: stopping (${what})`. */
export function stopSignal(what: string): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log('warn', `${signal} again: exiting without waiting`);
        process.exit(1);
      }
      stopping = true;
      log('info', `${signal}: stopping (${what})`);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
