// `tokenflow worker`: a studio farm worker (companion/farm/worker.ts) until SIGINT/SIGTERM.
import path from 'node:path';
import os from 'node:os';
import { queueFromEnv, resolveFolders } from '../config.ts';
import { parsePathMapping } from '../farm/path_map.ts';
import { parseQueueUrl } from '../farm/queue_url.ts';
import { startFarmWorker } from '../farm/worker.ts';
import { loadMedia } from '../jobs/media_api.ts';
import { checkMedia, describeCapabilities } from '../media/index.ts';
import { watchChildren } from '../util/child_registry.ts';
import { UsageError, type Command } from './command.ts';
import { log } from './console_log.ts';
import { probeDevice } from './device_probe.ts';
import { parseCommandLine } from './options.ts';
import { stopSignal } from './stop_signal.ts';

const help = `Usage: tokenflow worker --queue redis://HOST:PORT[/DB] [options]

Runs a studio farm worker: takes jobs that editors' daemons (\`tokenflow serve --queue\`)
put in the queue, runs them here (same stages and checkpoints as a local run) and writes
the renders to the shared output folder. Stops on Ctrl-C (SIGINT) or SIGTERM; a job it is
running goes back to the queue and resumes from its checkpoints on the next worker.

Options:
  --queue URL           the farm's Redis: redis://[USER:PASSWORD@]HOST:PORT[/DB], or
                        rediss:// for TLS (or TOKENFLOW_QUEUE; the password may come from
                        TOKENFLOW_QUEUE_PASSWORD instead)
  --concurrency N       jobs run at the same time (default 1: one GPU)
  --path-map FROM=TO    an editor's path prefix and the same folder here, e.g.
                        /Volumes/Projects=/mnt/projects or 'P:\\=/mnt/projects';
                        repeatable; renders' paths are mapped back for the editor
  --output DIR          where renders are written: the shared output folder as this
                        machine mounts it (default: see TOKENFLOW_OUTPUT_DIR)
  --work DIR            job work folders (checkpoints, inversion cache); put it on shared
                        storage so another worker can resume a job this one dropped
                        (default <data folder>/farm-work)
  --name NAME           this worker's name in the daemons' health and job lists (default
                        the host name); two workers on one machine need their own names
  --stall-seconds N     how long a job a dead worker held (kill -9, power loss) stays
                        locked before another worker takes it over: the job lock's
                        duration and the interval of the stalled-job check, 2 to 3600
                        (default 30, BullMQ's). Give every worker the same value; a
                        short one costs more Redis traffic, and one shorter than this
                        machine's worst event-loop stall hands a live job over
  -h, --help            this help`;

export const command: Command = {
  help,
  async run(args) {
    const queueEnv = queueFromEnv();
    const { values } = parseCommandLine(args, {
      queue: { type: 'string', parse: (url) => parseQueueUrl(url, queueEnv.password), default: queueEnv.url },
      concurrency: { type: 'int', min: 1, max: 64 },
      'path-map': { type: 'list', parse: parsePathMapping },
      output: { type: 'string' },
      work: { type: 'string' },
      'stall-seconds': { type: 'int', min: 2, max: 3600 },
      name: { type: 'string', parse: workerName, default: os.hostname() },
    });
    const connection = values.queue;
    if (connection === undefined) throw new UsageError('--queue is required (or TOKENFLOW_QUEUE): the address of the farm\'s Redis');
    const { name, 'path-map': pathMaps, 'stall-seconds': stallSeconds } = values;
    const concurrency = values.concurrency ?? 1;
    const folders = resolveFolders();
    const outputDir = values.output === undefined ? folders.outputDir : path.resolve(values.output);
    const workDir = values.work === undefined ? path.join(folders.dataDir, 'farm-work') : path.resolve(values.work);

    log('info', `TokenFlow worker ${name} on ${os.hostname()} starting (queue ${connection.display})`);
    // ffmpeg and the pipeline process end with the worker, even one killed with -9.
    watchChildren();
    log('info', describeCapabilities(await checkMedia()));
    // A bad TOKENFLOW_PROVIDERS / TOKENFLOW_PRECISION stops the start, naming the variable.
    const device = await probeDevice();
    const worker = await startFarmWorker({
      connection, name, device: device.provider, deviceName: device.name, concurrency, pathMaps, outputDir, workDir, stallSeconds,
      stateDir: path.join(folders.dataDir, 'workers', name), media: await loadMedia(), log,
    });
    for (const m of pathMaps) log('info', `path map: ${m.from} → ${m.to}`);
    log('info', `taking jobs, ${concurrency} at a time; renders go to ${outputDir}, work folders to ${workDir}`);
    await stopSignal('a running job goes back to the queue');
    await worker.close();
    log('info', 'stopped');
    return 0;
  },
};

/** A worker's name as daemons show it and its state folder is named. */
function workerName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) throw new UsageError(`--name must be 1 to 100 characters of A-Z a-z 0-9 . _ - , got "${name}"`);
  return name;
}
