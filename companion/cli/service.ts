// `tokenflow service install|uninstall|status`: start the daemon at login, so the panel finds
// it without a terminal. A systemd user unit on Linux, a LaunchAgent on macOS, a per-user Run
// value on Windows (companion/service/); the daemon's output goes to <data>/service.log.
import fs from 'node:fs';
import os from 'node:os';
import { processEnv, resolveFolders, xdgConfigHomeFromEnv } from '../config.ts';
import { readDaemonFile } from '../server/discovery.ts';
import { install, runCommand, servicePlan, uninstall, type Runner } from '../service/manager.ts';
import { refusePasswordInQueue, serviceSpec } from '../service/spec.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';

const help = `Usage: tokenflow service install|uninstall|status

Starts the daemon (\`tokenflow serve\`) when you log in, so the Premiere panel finds it
without a terminal window:
  Linux    a systemd user unit, ~/.config/systemd/user/tokenflow.service
  macOS    a LaunchAgent, ~/Library/LaunchAgents/org.tokenflow.companion.plist
  Windows  the value TokenFlow under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run,
           which runs a script in the data folder that starts the daemon without a window

  install    register the service and start the daemon now; the service runs this
             tokenflow (this Node and this install) with the TOKENFLOW_* and HF_HOME,
             HF_HUB_CACHE, HF_ENDPOINT, XDG_*_HOME settings of the current shell (not HF_TOKEN;
             TOKENFLOW_QUEUE_PASSWORD is kept apart, in queue-password in the config folder,
             readable by you only; a TOKENFLOW_QUEUE address with a password is refused)
  uninstall  stop the daemon and remove the service (and the queue-password file)
  status     whether the service is installed and the daemon is running, and the log file

The daemon's output is appended to service.log in the data folder.

Options:
  -h, --help  this help`;

export const command: Command = {
  help,
  async run(args) {
    const [action] = parseCommandLine(args, {}, 1).positionals;
    if (action !== 'install' && action !== 'uninstall' && action !== 'status') {
      throw new UsageError(action === undefined ? 'say install, uninstall or status' : `unknown action "${action}"`);
    }
    return runService(action, { run: runCommand });
  },
};

export interface ServiceContext {
  run: Runner;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
}

export async function runService(action: 'install' | 'uninstall' | 'status', ctx: ServiceContext): Promise<number> {
  const { run, env = processEnv(), platform = process.platform, home = os.homedir() } = ctx;
  const folders = resolveFolders(env, platform, home);
  const spec = serviceSpec(folders, env);
  const plan = servicePlan(spec, { platform, home, uid: process.getuid?.() ?? 0, xdgConfigHome: xdgConfigHomeFromEnv(env), dataDir: folders.dataDir });
  const daemon = await readDaemonFile(folders.dataDir);
  if (action === 'install') {
    refusePasswordInQueue(spec.environment.TOKENFLOW_QUEUE);
    if (daemon) console.error(`note: a daemon is already running at ${daemon.url} (pid ${daemon.pid}); the service's daemon needs its port, so stop that one first.`);
    const keptPassword = fs.existsSync(spec.queuePassword.file);
    await install(plan, spec, run);
    console.log(`installed (${plan.kind}): ${plan.file.path}`);
    console.log(`the daemon starts at login; its output goes to ${spec.logFile}`);
    if (spec.queuePassword.value !== undefined) console.log(`the queue password is kept in ${spec.queuePassword.file}, readable by you only`);
    else if (keptPassword) console.log(`TOKENFLOW_QUEUE_PASSWORD is not set, so the queue password the earlier install kept is removed (${spec.queuePassword.file})`);
    return 0;
  }
  if (action === 'uninstall') {
    const { removed } = await uninstall(plan, spec, run);
    if (!plan.stopsDaemon && daemon) process.kill(daemon.pid, 'SIGTERM');
    console.log(removed ? `removed the service (${plan.file.path})` : 'the service was not installed');
    return 0;
  }
  const installed = fs.existsSync(plan.file.path);
  const registered = installed ? await run(plan.status) : undefined;
  console.log(`service:  ${installed ? `installed (${plan.kind}): ${plan.file.path}` : 'not installed'}`);
  if (registered) console.log(`manager:  ${registered.code === 0 ? 'registered' : `not registered (${plan.status.join(' ')}: exit ${registered.code})`}${registered.output ? ` - ${registered.output.split('\n')[0]}` : ''}`);
  console.log(`daemon:   ${daemon ? `running at ${daemon.url} (pid ${daemon.pid}, version ${daemon.version})` : 'not running'}`);
  console.log(`log:      ${spec.logFile}${fs.existsSync(spec.logFile) ? '' : ' (not written yet)'}`);
  return installed && daemon ? 0 : 1;
}
