// `tokenflow service`'s plan for this platform: which file to write where, and which
// commands of the platform's service manager install, remove and report it. Commands run
// through an injectable runner, so tests check the plan without touching the machine.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from '../config.ts';
import * as launchd from './launchd.ts';
import type { ServiceSpec } from './spec.ts';
import * as systemd from './systemd.ts';
import * as windows from './windows.ts';

export interface ServicePlan {
  /** What starts the daemon at login, in words. */
  kind: string;
  file: { path: string; content: string; mode: number };
  /** Run before install, failures ignored: unloads an earlier install so a re-install takes effect. */
  prepare: string[][];
  install: string[][];
  uninstall: string[][];
  afterUninstall: string[][];
  /** Exits 0 when the manager has the service registered (and, where it says, running). */
  status: string[];
  /** The manager does not stop the daemon on uninstall (Windows): stop it by its pid. */
  stopsDaemon: boolean;
}

export interface PlanContext {
  platform: NodeJS.Platform;
  home: string;
  uid: number;
  xdgConfigHome?: string;
  dataDir: string;
}

export function servicePlan(spec: ServiceSpec, ctx: PlanContext): ServicePlan {
  if (ctx.platform === 'darwin') {
    const file = launchd.plistPath(ctx.home);
    return { kind: 'LaunchAgent', file: { path: file, content: launchd.plist(spec), mode: 0o644 }, ...launchd.launchctl(ctx.uid, file), stopsDaemon: true };
  }
  if (ctx.platform === 'win32') {
    const file = windows.scriptPath(ctx.dataDir);
    return { kind: `${windows.RUN_KEY}\\${windows.RUN_VALUE}`, file: { path: file, content: windows.launchScript(spec), mode: 0o644 }, ...windows.reg(file), stopsDaemon: false };
  }
  if (ctx.platform === 'linux') {
    const file = systemd.unitPath(ctx.home, ctx.xdgConfigHome);
    return { kind: 'systemd user unit', file: { path: file, content: systemd.unitFile(spec), mode: 0o644 }, ...systemd.systemctl, stopsDaemon: true };
  }
  throw new Error(`tokenflow service supports Linux (systemd), macOS (launchd) and Windows; not ${ctx.platform}`);
}

export interface CommandResult {
  code: number;
  output: string;
}

export type Runner = (command: string[]) => Promise<CommandResult>;

export const runCommand: Runner = (command) =>
  new Promise((resolve) => {
    execFile(command[0]!, command.slice(1), { windowsHide: true, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() || (err && code === 127 ? err.message : '') });
    });
  });

export async function install(plan: ServicePlan, spec: ServiceSpec, run: Runner): Promise<void> {
  fs.mkdirSync(path.dirname(plan.file.path), { recursive: true });
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true, mode: 0o700 });
  fs.writeFileSync(plan.file.path, plan.file.content, { mode: plan.file.mode });
  keepQueuePassword(spec.queuePassword);
  for (const command of plan.prepare) await run(command);
  for (const command of plan.install) {
    const result = await run(command);
    if (result.code !== 0) {
      throw new Error(`${command.join(' ')} failed (exit ${result.code})${result.output ? `: ${result.output}` : ''}; ${plan.file.path} is written, but the service is not registered`);
    }
  }
}

/**
 * The installing shell's queue password, for the daemon only: created afresh owner-only (an
 * existing file may have looser rights), or removed when the shell has none, as the service
 * file drops settings the shell no longer has.
 */
function keepQueuePassword({ file, value }: ServiceSpec['queuePassword']): void {
  fs.rmSync(file, { force: true });
  if (value === undefined) return;
  ensurePrivateDir(path.dirname(file));
  fs.writeFileSync(file, value, { mode: 0o600, flag: 'wx' });
}

/** Removes the service and the queue password kept for it; a manager that no longer knows it is not an error. */
export async function uninstall(plan: ServicePlan, spec: ServiceSpec, run: Runner): Promise<{ removed: boolean }> {
  const existed = fs.existsSync(plan.file.path);
  for (const command of plan.uninstall) await run(command);
  fs.rmSync(plan.file.path, { force: true });
  fs.rmSync(spec.queuePassword.file, { force: true });
  for (const command of plan.afterUninstall) await run(command);
  return { removed: existed };
}
