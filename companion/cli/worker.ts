// `tokenflow worker`: a studio farm worker (companion/farm/worker.ts) until SIGINT/SIGTERM.
import path from 'node:path';
import os from 'node:os';
import type { LogLevel } from '../../shared/events.ts';
import { debugFromEnv, queueFromEnv, resolveFolders } from '../config.ts';
import { parsePathMapping, type PathMapping } from '../farm/path_map.ts';
import { parseQueueUrl } from '../farm/queue_url.ts';
import { startFarmWorker } from '../farm/worker.ts';
import { loadMedia } from '../jobs/media_api.ts';
import { checkMedia, describeCapabilities } from '../media/index.ts';
import { probeProvider } from '../runtime/provider_probe.ts';
import { parseOptions, UsageError, type Command } from './command.ts';

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
  -h, --help            this help`;

export const command: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseOptions({
      args,
      allowPositionals: true,
      options: {
        queue: { type: 'string' },
        concurrency: { type: 'string' },
        'path-map': { type: 'string', multiple: true },
        output: { type: 'string' },
        work: { type: 'string' },
      },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const env = queueFromEnv();
    const url = values.queue ?? env.url;
    if (url === undefined) throw new UsageError('--queue is required (or TOKENFLOW_QUEUE): the address of the farm\'s Redis');
    let connection;
    let pathMaps: PathMapping[];
    try {
      connection = parseQueueUrl(url, env.password);
      pathMaps = (values['path-map'] ?? []).map(parsePathMapping);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const concurrency = values.concurrency === undefined ? 1 : Number(values.concurrency);
    if (!/^\d+$/.test(values.concurrency ?? '1') || concurrency < 1 || concurrency > 64) {
      throw new UsageError(`--concurrency must be an integer from 1 to 64, got "${values.concurrency}"`);
    }
    const folders = resolveFolders();
    const outputDir = values.output === undefined ? folders.outputDir : path.resolve(values.output);
    const workDir = values.work === undefined ? path.join(folders.dataDir, 'farm-work') : path.resolve(values.work);

    log('info', `TokenFlow worker on ${os.hostname()} starting (queue ${connection.display})`);
    log('info', describeCapabilities(await checkMedia()));
    try {
      log('info', `execution provider: ${(await probeProvider()).line}`);
    } catch (err) {
      log('error', `ONNX Runtime cannot create a session on this machine: ${err instanceof Error ? err.message : err}`);
    }
    const worker = await startFarmWorker({ connection, concurrency, pathMaps, outputDir, workDir, media: await loadMedia(), log });
    for (const m of pathMaps) log('info', `path map: ${m.from} → ${m.to}`);
    log('info', `taking jobs, ${concurrency} at a time; renders go to ${outputDir}, work folders to ${workDir}`);
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        log('info', `${signal}: stopping (a running job goes back to the queue)`);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await worker.close();
    log('info', 'stopped');
    return 0;
  },
};

function log(level: LogLevel, text: string): void {
  if (level === 'debug' && !debugFromEnv()) return;
  const line = `${new Date().toISOString()} ${level.padEnd(5)} ${text}`;
  if (level === 'warn' || level === 'error') console.error(line);
  else console.log(line);
}
