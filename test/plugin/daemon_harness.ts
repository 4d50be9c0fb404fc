// A real TokenFlow daemon on 127.0.0.1 for the panel tests: the product's job service and
// server, with the pipeline replaced by test/plugin/doubles/panel_pipeline.ts. It can be
// stopped and started again on the same port and folders (a daemon restart mid-job).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveFolders } from '../../companion/config.ts';
import { JobService } from '../../companion/jobs/service.ts';
import { startDaemon, type Daemon } from '../../companion/server/daemon.ts';
import { loadOrCreateToken } from '../../companion/server/token.ts';
import { createModelLister } from '../../companion/server/models.ts';
import { ModelPullService } from '../../companion/hub/pull_jobs.ts';
import { makeClip } from '../media/clips.ts';

export interface PanelDaemonOptions {
  /** Pipeline double: ms per step and steps per stage. */
  delayMs?: number;
  steps?: number;
  /** A job whose prompt has this word stops after its second edit step until canceled. */
  hold?: string;
  /** Port to listen on (default: any free one). */
  port?: number;
  /** Browser Origins the daemon accepts (the E2E page's); the product default allows none. */
  allowedOrigins?: string[];
  /** File name of the generated clip (default clip.mp4). */
  clipName?: string;
  /**
   * A first run: only the bundled test model is installed, and models are downloaded from this
   * (fake) hub endpoint into the daemon's own HF cache. Otherwise SD 2.1-base counts as installed.
   */
  hubEndpoint?: string;
  /** Back-off before a model download's retry (default 10 ms). */
  retryDelayMs?: number;
  /** What the health reports as the device (default cpu) and the GPU's name. */
  device?: string;
  deviceName?: string;
}

export interface PanelDaemon {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly home: string;
  readonly outputDir: string;
  /** A 25 fps, 64x48, 2 s H.264 clip (50 frames). */
  readonly clip: string;
  jobs: JobService;
  daemon: Daemon;
  /** Every line the daemon logged (pairing codes appear here). */
  readonly logs: string[];
  /** The newest pairing code the daemon announced, digits only. */
  pairingCode(): string;
  /** Stops the server and the job service, keeping every file (running jobs are re-queued). */
  stop(): Promise<void>;
  /** Starts again on the same port and folders. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

type TestContext = { after(fn: () => Promise<void> | void): void };

export const CLIP_FPS = 25;
export const CLIP_FRAMES = 50;

export async function startPanelDaemon(t: TestContext, options: PanelDaemonOptions = {}): Promise<PanelDaemon> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-panel-'));
  const folders = resolveFolders({ TOKENFLOW_HOME: home });
  const token = await loadOrCreateToken(folders.configDir);
  const clip = await makeClip(path.join(home, options.clipName ?? 'clip.mp4'), { width: 64, height: 48, rate: String(CLIP_FPS), frames: CLIP_FRAMES });
  const query = new URLSearchParams({ delay: String(options.delayMs ?? 5), steps: String(options.steps ?? 4), ...(options.hold === undefined ? {} : { hold: options.hold }) });
  const pipelineModule = new URL(`./doubles/panel_pipeline.ts?${query}`, import.meta.url);

  const logs: string[] = [];
  const log = (_level: string, message: string) => logs.push(message);
  const hubEnv = { HF_HOME: path.join(home, 'hf'), HF_ENDPOINT: options.hubEndpoint, TOKENFLOW_MODELS: '' };
  const tiny = { id: 'tiny-sd15', path: path.join(home, 'models', 'tiny-sd15'), is_default: true, size_bytes: null };
  const launch = async (port: number) => {
    const jobs = new JobService({ dataDir: folders.dataDir, outputDir: folders.outputDir, pipelineModule, previewIntervalMs: 0 });
    await jobs.start();
    // First run: the real model lister over the daemon's HF cache, and real model jobs.
    const lister = options.hubEndpoint === undefined ? undefined : createModelLister({ env: hubEnv });
    const modelPulls = options.hubEndpoint === undefined ? undefined
      : new ModelPullService({ dataDir: folders.dataDir, env: hubEnv, log, onInstalled: () => lister!.invalidate(), retry: { attempts: 2, baseDelayMs: options.retryDelayMs ?? 10, stallTimeoutMs: 5000 } });
    modelPulls?.start();
    const listModels = lister
      ? async () => [tiny, ...(await lister.list()).filter((m) => m.id.includes('/')).map((m) => ({ ...m, is_default: false }))]
      : async () => [tiny, { id: 'stabilityai/stable-diffusion-2-1-base', path: path.join(home, 'hf', 'sd21'), is_default: false, size_bytes: null }];
    const daemon = await startDaemon({
      jobs,
      token,
      host: '127.0.0.1',
      port,
      version: '0.0.0-panel-test',
      allowedOrigins: options.allowedOrigins,
      // A ready daemon as the panel sees it (the pipeline double needs no model).
      device: () => options.device ?? 'cpu',
      deviceName: () => options.deviceName ?? null,
      listModels,
      modelPulls,
      outputDir: folders.outputDir,
      log,
    });
    return { jobs, daemon, modelPulls };
  };

  let running: { jobs: JobService; daemon: Daemon; modelPulls?: ModelPullService } | undefined = await launch(options.port ?? 0);
  const port = running.daemon.port;
  const handle: PanelDaemon = {
    url: running.daemon.url,
    port,
    token,
    home,
    outputDir: folders.outputDir,
    clip,
    jobs: running.jobs,
    daemon: running.daemon,
    logs,
    pairingCode() {
      const line = logs.filter((l) => l.startsWith('PAIRING CODE')).at(-1);
      const m = line === undefined ? null : /: (\d{3}) (\d{3}) /.exec(line);
      if (!m) throw new Error(`the daemon announced no pairing code:\n${logs.join('\n')}`);
      return `${m[1]}${m[2]}`;
    },
    async stop() {
      if (!running) return;
      const { jobs, daemon, modelPulls } = running;
      running = undefined;
      await daemon.close();
      await modelPulls?.close();
      await jobs.close();
    },
    async restart() {
      await handle.stop();
      running = await launch(port);
      handle.jobs = running.jobs;
      handle.daemon = running.daemon;
    },
    async close() {
      await handle.stop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
  t.after(() => handle.close());
  return handle;
}
