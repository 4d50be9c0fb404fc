// The benches' child processes: a measurement runs in a process of its own (the bench file
// again, with `--child` and its arguments), so the peak resident memory it reads is its own.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Runs the bench file `moduleUrl` (its import.meta.url) with `--child ...args` and returns its
 * last stdout line as JSON (what it printed before is its own log). Throws as execFileSync
 * does: a failed or timed-out child's error carries its stdout.
 */
export function runChild<T>(moduleUrl: string, args: string[], options: ChildOptions = {}): T {
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(moduleUrl), '--child', ...args], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: options.env, timeout: options.timeoutMs, maxBuffer: 1 << 20,
  });
  return JSON.parse(lastLine(out)!) as T;
}

/** The last line of a child's stdout; undefined when it printed nothing. */
export function lastLine(stdout: string): string | undefined {
  return stdout.trim().split('\n').pop();
}

/** This process's peak resident memory in MB: VmHWM on Linux; elsewhere getrusage's max RSS (the same high-water mark). */
export function peakRssMB(): number {
  const status = existsSync('/proc/self/status') ? readFileSync('/proc/self/status', 'utf8') : '';
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Math.round(Number(m[1]) / 1024) : Math.round(process.resourceUsage().maxRSS / 1024);
}
