// A real `tokenflow worker` (bin/tokenflow.mjs in a child process) with its home in a folder of
// its own: for the studio farm's tests and bench, which stop it, kill it and read its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.ts';
import { daemonEnv, until } from './served_daemon.ts';

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Sends `signal` (default SIGTERM) unless it has exited, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Resolves once the worker takes jobs (`args`: the `tokenflow worker` options). */
export async function startWorker(home: string, args: string[]): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], { env: daemonEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await until(() => /taking jobs/.test(out) || child.exitCode !== null, 60_000, 'the worker to start');
  if (child.exitCode !== null) throw new Error(`the worker exited:\n${out}`);
  return {
    child,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
