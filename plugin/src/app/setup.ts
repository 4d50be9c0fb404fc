// The first-run checklist's state: what an edit needs (companion, pairing, device, a real
// model, disk space for renders), each with its state, read from the connection, the health,
// the installed models and the model download in progress.
import type { ModelInfo } from '../../../shared/health.ts';
import type { ModelJob } from '../../../shared/model_pulls.ts';
import type { ConnectionStatus, DaemonConnection } from '../daemon/connection.ts';
import type { DaemonClient } from '../../../shared/daemon_client.ts';

/** The model the checklist offers (the README's recommended one) and its download size. */
export const RECOMMENDED_MODEL = { id: 'stabilityai/stable-diffusion-2-1-base', label: 'Stable Diffusion 2.1-base', size: '2.6 GB' } as const;
/** The bundled test model: random weights, so it does not count as a model for real edits. */
export const BUNDLED_TEST_MODEL = 'tiny-sd15';
/** Free space below which the render folder is flagged (a ProRes render of a short clip fits). */
export const MIN_RENDER_FREE_BYTES = 2e9;

export type CheckState = 'ok' | 'warn' | 'todo' | 'busy';

export interface Check {
  id: 'companion' | 'paired' | 'device' | 'model' | 'disk';
  state: CheckState;
  title: string;
  detail: string;
}

export class SetupModel {
  models: ModelInfo[] = [];
  pull: ModelJob | undefined;
  pullError = '';
  private client: DaemonClient | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly connection: DaemonConnection) {
    connection.subscribe({
      status: (status) => {
        if (status.kind !== 'connected') this.client = undefined;
        this.emit();
      },
      hello: (_hello, client) => {
        this.client = client;
        void this.reload(client);
      },
      event: (event) => {
        if (event.type !== 'model.progress') return;
        if (this.pull !== undefined && event.job.id !== this.pull.id && event.job.model_id !== RECOMMENDED_MODEL.id) return;
        this.pull = event.job;
        if (event.job.state === 'succeeded' && this.client) void this.reload(this.client);
        this.emit();
      },
    });
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get hasRealModel(): boolean {
    return this.models.some((m) => m.id !== BUNDLED_TEST_MODEL);
  }

  /** Starts (or rejoins) the recommended model's download. */
  async download(): Promise<void> {
    if (!this.client) return;
    this.pullError = '';
    try {
      this.pull = (await this.client.pullModel({ id: RECOMMENDED_MODEL.id })).job;
    } catch (err) {
      this.pullError = err instanceof Error ? err.message : String(err);
    }
    this.emit();
  }

  async cancel(): Promise<void> {
    if (!this.client || !this.pull) return;
    try {
      this.pull = await this.client.cancelModelPull(this.pull.id);
    } catch (err) {
      this.pullError = err instanceof Error ? err.message : String(err);
    }
    this.emit();
  }

  /** The checklist for the current connection status. */
  checks(status: ConnectionStatus): Check[] {
    const found = !['connecting', 'not_running', 'not_tokenflow', 'version_mismatch'].includes(status.kind);
    const connected = status.kind === 'connected';
    const health = connected ? status.health : undefined;
    const checks: Check[] = [
      found
        ? { id: 'companion', state: 'ok', title: 'TokenFlow companion found', detail: '' }
        : { id: 'companion', state: 'todo', title: 'TokenFlow companion not found', detail: 'Install the companion and run `tokenflow service install` once (it then starts at every login), or run `tokenflow serve`.' },
      connected
        ? { id: 'paired', state: 'ok', title: 'Paired', detail: '' }
        : { id: 'paired', state: 'todo', title: 'Not paired', detail: found ? 'Click Pair above and type the code the companion shows.' : 'Pairing follows once the companion runs.' },
    ];
    if (!health) return checks;
    const device = health.device;
    checks.push(
      device === null
        ? { id: 'device', state: 'todo', title: 'No inference device', detail: 'The companion could not load ONNX Runtime: its log says why.' }
        : device.startsWith('cpu')
          ? { id: 'device', state: 'warn', title: 'CPU only', detail: 'No GPU is in use: renders at full size take hours on the CPU. Short, small previews are fine.' }
          : { id: 'device', state: 'ok', title: health.device_name ? `GPU: ${health.device_name} (${device})` : `GPU: ${device}`, detail: '' },
    );
    checks.push(this.modelCheck());
    const free = health.output_free_bytes;
    checks.push(
      free === null || free === undefined
        ? { id: 'disk', state: 'warn', title: 'Disk space for renders unknown', detail: 'The companion could not measure its render folder.' }
        : free < MIN_RENDER_FREE_BYTES
          ? { id: 'disk', state: 'todo', title: `Only ${gb(free)} free for renders`, detail: `Free at least ${gb(MIN_RENDER_FREE_BYTES)} on the render folder's disk, or start the companion with --output on a larger one.` }
          : { id: 'disk', state: 'ok', title: `${gb(free)} free for renders`, detail: '' },
    );
    return checks;
  }

  private modelCheck(): Check {
    if (this.hasRealModel) return { id: 'model', state: 'ok', title: `Model: ${this.models.find((m) => m.id !== BUNDLED_TEST_MODEL)!.id}`, detail: '' };
    const job = this.pull;
    if (job && (job.state === 'running' || job.state === 'queued')) {
      return { id: 'model', state: 'busy', title: `Downloading ${RECOMMENDED_MODEL.label}`, detail: progressLine(job) };
    }
    const why = this.pullError || (job?.state === 'failed' ? job.error?.message ?? 'the download failed' : job?.state === 'canceled' ? 'Download canceled; it resumes where it stopped.' : '');
    return { id: 'model', state: 'todo', title: 'No model installed', detail: why || 'Edits need Stable Diffusion weights (the bundled test model only makes noise).' };
  }

  private async reload(client: DaemonClient): Promise<void> {
    try {
      this.models = await client.models();
      // Only needed while no model is there (and a daemon may not download models at all).
      if (!this.hasRealModel) this.pull ??= (await client.modelPulls()).filter((j) => j.model_id === RECOMMENDED_MODEL.id).at(-1);
    } catch (err) {
      this.pullError = err instanceof Error ? err.message : String(err);
    }
    this.emit();
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}

/** "1.2 of 2.6 GB · 48.0 MB/s · 1 min left" */
export function progressLine(job: ModelJob): string {
  const parts = [`${size(job.bytes_done)} of ${size(job.bytes_total)}`];
  if (job.bytes_per_second > 0) parts.push(`${size(job.bytes_per_second)}/s`);
  if (job.eta_s !== null) parts.push(job.eta_s < 60 ? `${Math.max(1, Math.round(job.eta_s))} s left` : `${Math.round(job.eta_s / 60)} min left`);
  return parts.join(' · ');
}

function size(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.round(bytes / 1e3)} KB`;
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}
