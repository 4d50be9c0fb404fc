// `tokenflow serve`: runs the daemon until SIGINT/SIGTERM.
import { cacheRoot, DEFAULT_CONCURRENCY, DEFAULT_HOST, ensurePrivateDir, modelFromEnv, portFromEnv, processEnv, queueFromEnv, resolveFolders } from '../config.ts';
import { FarmClient } from '../farm/farm_client.ts';
import { parseQueueUrl, type QueueConnection } from '../farm/queue_url.ts';
import { JobService } from '../jobs/index.ts';
import { checkJobSettings, submitCheck } from '../pipeline/settings_check.ts';
import { checkMedia, describeCapabilities } from '../media/index.ts';
import { isLoopbackAddress, startDaemon } from '../server/daemon.ts';
import { removeDaemonFile, writeDaemonFile } from '../server/discovery.ts';
import { createModelLister } from '../server/models.ts';
import { BUNDLED_MODEL_ID, chooseDefaultModel } from '../hub/catalog.ts';
import { cachedInspector, inspectOffThread } from '../hub/report_cache.ts';
import { loadOrCreateToken, tokenPath } from '../server/token.ts';
import { daemonVersion } from '../server/version.ts';
import { notifyDesktop } from '../server/notify.ts';
import { ModelPullService } from '../hub/pull_jobs.ts';
import { watchChildren } from '../util/child_registry.ts';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError, type Command } from './command.ts';
import { log } from './console_log.ts';
import { probeDevice } from './device_probe.ts';
import { parseCommandLine } from './options.ts';
import { stopSignal } from './stop_signal.ts';

const EXPOSE_FLAG = 'i-know-this-exposes-the-daemon';

/**
 * With --queue the daemon hands every queued job to the farm at once (the workers' own
 * --concurrency decides how many run); this only bounds the jobs it follows at a time.
 */
const FARM_FOLLOWED_JOBS = 1000;

const help = `Usage: tokenflow serve [options]

Runs the TokenFlow daemon: the REST API and event stream the Premiere panel talks to.
Stops cleanly on Ctrl-C (SIGINT) or SIGTERM; running jobs resume on the next start.

Options:
  --port N              TCP port (default 43117, or TOKENFLOW_PORT; 0 = any free port)
  --host ADDR           address to listen on (default 127.0.0.1). Anything that is not a
                        loopback address also needs --${EXPOSE_FLAG}
  --${EXPOSE_FLAG}
                        allow --host to be a non-loopback address: every device that can
                        reach this machine may then try the API (the token still guards it)
  --concurrency N       jobs run at the same time (default 1: one GPU)
  --output DIR          where renders are written (default: see TOKENFLOW_OUTPUT_DIR)
  --model DIR|ORG/NAME  default model: a diffusers folder, \`tiny-sd15\` (bundled), or a
                        hub id already in the HF cache (or TOKENFLOW_MODEL; see
                        \`tokenflow models list\`)
  --queue URL           studio farm: hand jobs to the workers on this Redis instead of
                        running them here: redis://[USER:PASSWORD@]HOST:PORT[/DB] or
                        rediss:// (or TOKENFLOW_QUEUE; password also from
                        TOKENFLOW_QUEUE_PASSWORD, else from <config>/queue-password,
                        which \`tokenflow service install\` writes). See the README's
                        "Studio" section
  --allow-origin ORIGIN also accept browser requests from ORIGIN (exact, e.g.
                        "null" or "https://example.com"); repeatable. Only such
                        Origins get CORS answers; needed only if the panel is refused
                        naming its Origin (see the README's security model)
  -h, --help            this help

Environment: TOKENFLOW_HOME (config, data and renders under one folder),
TOKENFLOW_OUTPUT_DIR, TOKENFLOW_PORT, TOKENFLOW_MODEL, TOKENFLOW_FFMPEG, TOKENFLOW_FFPROBE,
TOKENFLOW_QUEUE, TOKENFLOW_QUEUE_PASSWORD.`;

export const command: Command = {
  help,
  async run(args) {
    const folders = resolveFolders();
    const queueEnv = queueFromEnv(processEnv(), folders.configDir);
    const { values } = parseCommandLine(args, {
      port: { type: 'int', min: 0, max: 65535 },
      host: { type: 'string', default: DEFAULT_HOST },
      [EXPOSE_FLAG]: { type: 'boolean' },
      concurrency: { type: 'int', min: 1, max: 64 },
      output: { type: 'string' },
      model: { type: 'string' },
      queue: { type: 'string', parse: (url) => parseQueueUrl(url, queueEnv.password), default: queueEnv.url },
      'allow-origin': { type: 'list' },
    });
    const { host, queue } = values;
    const exposed = !isLoopbackAddress(host);
    if (exposed && !values[EXPOSE_FLAG]) {
      throw new UsageError(
        `--host ${host} is not a loopback address: the daemon would be reachable from other machines. ` +
          `If that is really what you want, add --${EXPOSE_FLAG}`,
      );
    }
    if (queue !== undefined && values.concurrency !== undefined) throw new UsageError('--concurrency does not apply with --queue: each worker has its own (tokenflow worker --concurrency)');
    const outputDir = values.output === undefined ? folders.outputDir : path.resolve(values.output);
    const configuredModel = values.model ?? modelFromEnv();
    return serve({
      port: values.port ?? portFromEnv(),
      host,
      exposed,
      concurrency: values.concurrency ?? DEFAULT_CONCURRENCY,
      configDir: folders.configDir,
      dataDir: folders.dataDir,
      outputDir,
      configuredModel,
      allowedOrigins: values['allow-origin'],
      queue,
    });
  },
};

interface ServeOptions {
  port: number;
  host: string;
  exposed: boolean;
  concurrency: number;
  configDir: string;
  dataDir: string;
  outputDir: string;
  /** --model or TOKENFLOW_MODEL; undefined: chosen from the installed models. */
  configuredModel: string | undefined;
  allowedOrigins: string[];
  /** --queue: jobs go to the studio farm's workers. */
  queue: QueueConnection | undefined;
}

async function serve(opts: ServeOptions): Promise<number> {
  const version = daemonVersion();
  // ffmpeg and the pipeline process end with the daemon, even one killed with -9.
  watchChildren();
  // Everything the daemon and its ffmpeg children write is owner-only (0600 files, 0700
  // folders): the data, work and cache folders hold frames of the user's clips, latents and
  // source paths. Renders are the exception: the output folder keeps the user's usual mode
  // (created before the umask changes) and each render gets it back when its job succeeds.
  fs.mkdirSync(opts.outputDir, { recursive: true });
  const userUmask = process.umask(0o077);
  for (const dir of [opts.dataDir, cacheRoot()]) ensurePrivateDir(dir);
  const token = await loadOrCreateToken(opts.configDir);
  log('info', `TokenFlow daemon ${version} starting (config ${opts.configDir}, data ${opts.dataDir})`);
  try {
    log('info', describeCapabilities(await checkMedia()));
  } catch (err) {
    log('error', `ffmpeg is not usable, so no job can run: ${message(err)}`);
  }

  // Model folders are checked off the event loop, once per folder identity: a burst of
  // submissions must not stall health checks and other requests.
  const inspect = cachedInspector(inspectOffThread);
  const defaultModel = opts.configuredModel ?? await chooseDefaultModel(processEnv(), inspect);
  if (opts.configuredModel === undefined) {
    log('info', `default model: ${defaultModel} (chosen from the installed models; --model to change)`);
    if (defaultModel === BUNDLED_MODEL_ID) {
      log('warn', `${BUNDLED_MODEL_ID} is the bundled test model with random weights: edits will look like noise. For real edits run \`tokenflow models pull stabilityai/stable-diffusion-2-1-base\``);
    }
  }
  // Throws, naming what to do, if --model names no folder and no cached hub model.
  const models = createModelLister({ defaultModel, log, inspect });
  const installed = await models.list();
  // The first submissions then find the default model's check done.
  if (models.defaultDir !== undefined) await inspect(models.defaultDir);
  log('info', `models: ${installed.map((m) => `${m.id}${m.is_default ? ' (default)' : ''}`).join(', ') || 'none installed'}`);
  // A bad TOKENFLOW_PROVIDERS / TOKENFLOW_PRECISION stops the start, naming the variable.
  const device = await probeDevice();

  const farm = opts.queue && await FarmClient.open(opts.queue, log);
  const jobs = new JobService({
    dataDir: opts.dataDir, outputDir: opts.outputDir, log,
    checkSettings: submitCheck((settings) => checkJobSettings(settings, processEnv(), inspect)),
    defaultModel: recordedModel(defaultModel),
    // Farm renders are written by the workers, with the shared folder's own rules.
    ...(farm ? { execute: farm.execute, forget: farm.forget, queuedUntilTaken: true, concurrency: FARM_FOLLOWED_JOBS } : { concurrency: opts.concurrency, outputFileMode: 0o666 & ~userUmask }),
  });
  try {
    await jobs.start();
  } catch (err) {
    await farm?.close();
    throw err;
  }
  const modelPulls = new ModelPullService({ dataDir: opts.dataDir, log, onInstalled: () => models.invalidate() });
  modelPulls.start();
  let daemon;
  try {
    daemon = await startDaemon({
      jobs,
      token,
      host: opts.host,
      port: opts.port,
      exposed: opts.exposed,
      allowedOrigins: opts.allowedOrigins,
      version,
      device: () => device.provider,
      deviceName: () => device.name,
      listModels: () => models.list(),
      modelPulls,
      ...(farm ? { farmWorkers: () => farm.workers() } : {}),
      outputDir: opts.outputDir,
      log,
      notify: (title, text) => notifyDesktop(title, text, (why) => log('debug', `no desktop notification for the pairing code (${why})`)),
    });
  } catch (err) {
    await modelPulls.close();
    await jobs.close();
    await farm?.close();
    throw err;
  }
  await writeDaemonFile(opts.dataDir, { pid: process.pid, url: daemon.url, version, started_at: new Date().toISOString() });

  if (opts.exposed) {
    const bar = '!'.repeat(78);
    log('warn', [
      bar,
      `!! The daemon listens on ${opts.host}:${daemon.port}, reachable from OTHER MACHINES.`,
      '!! Anyone who learns the token can run jobs and read job details. Traffic is plain',
      '!! HTTP (not encrypted). Use this only on a network you trust.',
      bar,
    ].join('\n'));
  }
  log('info', `bearer token: print it with \`tokenflow token\` (stored in ${tokenPath(opts.configDir)})`);
  if (opts.queue) log('info', `jobs go to the studio farm's queue at ${opts.queue.display}; the workers write the renders`);
  else log('info', `jobs run ${opts.concurrency} at a time; renders go to ${opts.outputDir}`);
  log('info', `listening on ${daemon.url} (API v1: ${daemon.url}/v1/health); press Ctrl-C to stop`);

  await stopSignal('running jobs are put back in the queue');
  await daemon.close();
  await modelPulls.close();
  await jobs.close();
  await farm?.close();
  await removeDaemonFile(opts.dataDir);
  log('info', 'stopped');
  return 0;
}

/** A model as job records name it: a folder by its absolute path (the daemon may start elsewhere next time), an id as is. */
function recordedModel(idOrDir: string): string {
  return fs.statSync(idOrDir, { throwIfNoEntry: false })?.isDirectory() ? path.resolve(idOrDir) : idOrDir;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
