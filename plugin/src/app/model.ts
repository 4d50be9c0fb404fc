// The panel's state and actions, free of DOM: the clip it will edit, the form settings, the
// daemon connection, presets and jobs. Views subscribe to topics and re-read what changed.
import type { EventOf, ServerEvent } from '../../../shared/events.ts';
import type { Health } from '../../../shared/health.ts';
import { isActiveState, JobRequest, type JobRecord, type JobRequestInput, type Stage } from '../../../shared/jobs.ts';
import { presetDefaults, type Preset, type PresetBodyInput } from '../../../shared/presets.ts';
import type { ParameterKey } from '../../../shared/parameters.ts';
import { TICKS_PER_SECOND } from '../../../shared/ticks.ts';
import type { DaemonClient } from '../../../shared/daemon_client.ts';
import type { ConnectionStatus, DaemonConnection } from '../daemon/connection.ts';
import type { KeyValueStore } from '../host/storage.ts';
import type { PlaceRenderRequest } from '../premiere/adapter.ts';
import type { ClipRef, SelectionResult } from '../premiere/clip.ts';
import type { PlacementMode, PlacementResult } from '../premiere/placement.ts';
import { JobContexts, type JobContext } from './job_contexts.ts';
import { applyPreset, loadSettings, saveSettings, type PanelSettings } from './settings.ts';

export type Topic = 'connection' | 'clip' | 'presets' | 'jobs' | 'settings' | 'notice';

export interface JobProgressView {
  stage: Stage;
  done: number;
  total: number;
  eta_s: number | null;
  overall: number;
  /** When eta_s was taken (ms since epoch). */
  at?: number;
}

export interface PlacementView {
  state: 'placing' | 'placed' | 'failed';
  message: string;
}

export interface JobView {
  record: JobRecord;
  progress?: JobProgressView;
  /** Edited keyframes as they stream, by frame index (data: URLs). */
  previews: { index: number; src: string }[];
  placement?: PlacementView;
  context?: JobContext;
}

export interface Notice {
  level: 'info' | 'error';
  text: string;
}

/** The Premiere side as the model uses it (PremiereAdapter; tests may pass a double). */
export interface PremiereSide {
  readSelection(): Promise<SelectionResult>;
  onSelectionChanged(listener: () => void): () => void;
  importAndPlace(request: PlaceRenderRequest): Promise<PlacementResult>;
}

export interface PanelModelOptions {
  premiere: PremiereSide;
  connection: DaemonConnection;
  store: KeyValueStore;
  /** Idempotency keys for submissions. */
  newKey?: () => string;
  /** Selection events arrive in bursts; they are read once this long after the last (ms). */
  selectionDebounceMs?: number;
}

const MAX_PREVIEWS = 12;

function randomKey(): string {
  let key = 'panel-';
  for (let i = 0; i < 24; i++) key += Math.floor(Math.random() * 16).toString(16);
  return key;
}

/** A render's length from its result: frame_count frames at the exact "num/den" rate. */
export function renderTicks(record: JobRecord): bigint | undefined {
  const result = record.result;
  if (!result) return undefined;
  const [num, den] = result.frame_rate.split('/').map((n) => BigInt(n));
  if (!num || !den) return undefined;
  return (BigInt(result.frame_count) * den * TICKS_PER_SECOND) / num;
}

/**
 * The job request for the clip and the form, as the daemon's schema wants it. The daemon applies
 * the preset: the request carries the form's negative prompt and parameters only where they differ
 * from what `preset` (the one selected, as loaded) sets.
 */
export function buildRequest(clip: ClipRef, settings: PanelSettings, previewOnly: boolean, idempotencyKey: string, preset?: Preset): JobRequestInput {
  const defaults = presetDefaults(preset);
  const parameters = Object.fromEntries(Object.entries(settings.parameters).filter(([key, value]) => value !== defaults.parameters[key as ParameterKey]));
  return {
    source_path: clip.mediaPath,
    range: { start_ticks: clip.inTicks, end_ticks: clip.outTicks },
    prompt: settings.prompt,
    ...(settings.negativePrompt !== defaults.negative_prompt ? { negative_prompt: settings.negativePrompt } : {}),
    source_prompt: settings.sourcePrompt,
    ...(settings.preset ? { preset: settings.preset } : {}),
    parameters,
    ...(settings.model ? { model: settings.model } : {}),
    output_kind: 'video',
    preview_only: previewOnly,
    idempotency_key: idempotencyKey,
  };
}

export class PanelModel {
  settings: PanelSettings;
  clip: SelectionResult | undefined;
  connection: ConnectionStatus;
  health: Health | undefined;
  presets: Preset[] = [];
  notice: Notice | undefined;
  /** A submission is in flight (buttons disabled). */
  submitting = false;
  private readonly jobMap = new Map<string, JobView>();
  private readonly contexts: JobContexts;
  private readonly listeners = new Set<(topics: ReadonlySet<Topic>) => void>();
  private readonly options: PanelModelOptions;
  private selectionRead = 0;
  private selectionTimer: ReturnType<typeof setTimeout> | undefined;
  private unsubscribers: (() => void)[] = [];
  private lastServerVersion: string | undefined;

  constructor(options: PanelModelOptions) {
    this.options = options;
    this.settings = loadSettings(options.store);
    this.contexts = new JobContexts(options.store);
    this.connection = options.connection.status;
  }

  // ------------------------------------------------------------------------------------------
  // Lifecycle and subscriptions

  start(): void {
    const { connection, premiere } = this.options;
    this.unsubscribers.push(
      connection.subscribe({
        status: (status) => this.onStatus(status),
        hello: (hello, client) => void this.onHello(hello, client),
        event: (event) => this.onEvent(event),
      }),
      premiere.onSelectionChanged(() => this.scheduleSelectionRead()),
    );
    void this.refreshSelection();
    connection.start();
  }

  stop(): void {
    for (const off of this.unsubscribers) off();
    this.unsubscribers = [];
    this.options.connection.stop();
  }

  subscribe(listener: (topics: ReadonlySet<Topic>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(...topics: Topic[]): void {
    const set = new Set(topics);
    for (const l of this.listeners) l(set);
  }

  // ------------------------------------------------------------------------------------------
  // Selection

  private scheduleSelectionRead(): void {
    if (this.selectionTimer !== undefined) clearTimeout(this.selectionTimer);
    this.selectionTimer = setTimeout(() => {
      this.selectionTimer = undefined;
      void this.refreshSelection();
    }, this.options.selectionDebounceMs ?? 120);
  }

  /** Re-reads the timeline selection; a slower, older read never overwrites a newer one. */
  async refreshSelection(): Promise<SelectionResult | undefined> {
    const ticket = ++this.selectionRead;
    let result: SelectionResult;
    try {
      result = await this.options.premiere.readSelection();
    } catch (err) {
      result = { ok: false, refusal: { code: 'nothing_selected', message: `Could not read the selection: ${errorText(err)}` } };
    }
    if (ticket !== this.selectionRead) return this.clip;
    this.clip = result;
    this.emit('clip');
    return result;
  }

  // ------------------------------------------------------------------------------------------
  // Settings and presets

  updateSettings(patch: Partial<PanelSettings>): void {
    this.settings = { ...this.settings, ...patch };
    saveSettings(this.options.store, this.settings);
    this.emit('settings');
  }

  choosePreset(name: string): void {
    const preset = this.presets.find((p) => p.name === name);
    this.settings = applyPreset(this.settings, preset);
    saveSettings(this.options.store, this.settings);
    this.emit('settings');
  }

  /** Back to the reference parameters (over the chosen preset's). */
  resetParameters(): void {
    const preset = this.presets.find((p) => p.name === this.settings.preset);
    this.updateSettings({ parameters: applyPreset(this.settings, preset).parameters });
  }

  selectedPreset(): Preset | undefined {
    return this.presets.find((p) => p.name === this.settings.preset);
  }

  async reloadPresets(client = this.options.connection.client): Promise<void> {
    if (!client) return;
    try {
      this.presets = await client.presets();
      this.emit('presets');
    } catch (err) {
      this.setNotice('error', `Could not load presets: ${errorText(err)}`);
    }
  }

  /** Saves the form's negative prompt and parameters as a user preset on the daemon. */
  async savePreset(name: string, description: string, template: string): Promise<boolean> {
    const client = this.requireClient();
    if (!client) return false;
    const body: PresetBodyInput = {
      description,
      prompt: template,
      negative_prompt: this.settings.negativePrompt,
      parameters: { ...this.settings.parameters },
    };
    try {
      await client.putPreset(name, body);
    } catch (err) {
      this.setNotice('error', `Could not save the preset: ${errorText(err)}`);
      return false;
    }
    await this.reloadPresets(client);
    this.choosePreset(name);
    this.setNotice('info', `Saved preset "${name}".`);
    return true;
  }

  async deletePreset(name: string): Promise<void> {
    const client = this.requireClient();
    if (!client) return;
    try {
      await client.deletePreset(name);
    } catch (err) {
      this.setNotice('error', `Could not delete the preset: ${errorText(err)}`);
      return;
    }
    if (this.settings.preset === name) this.choosePreset('');
    await this.reloadPresets(client);
  }

  // ------------------------------------------------------------------------------------------
  // Notices

  setNotice(level: Notice['level'], text: string): void {
    this.notice = { level, text };
    this.emit('notice');
  }

  clearNotice(): void {
    this.notice = undefined;
    this.emit('notice');
  }

  // ------------------------------------------------------------------------------------------
  // Jobs

  /** Jobs newest first. */
  jobs(): JobView[] {
    return [...this.jobMap.values()].sort((a, b) => b.record.created_at.localeCompare(a.record.created_at));
  }

  job(id: string): JobView | undefined {
    return this.jobMap.get(id);
  }

  /** Why Render/Preview cannot run now, or undefined when they can. */
  blockedReason(): string | undefined {
    if (this.connection.kind !== 'connected') return 'Connect to the TokenFlow daemon first.';
    if (!this.clip) return 'Reading the selection…';
    if (!this.clip.ok) return this.clip.refusal.message;
    if (this.settings.prompt.trim() === '') return 'Describe the edit in the prompt.';
    return undefined;
  }

  /** Sends the selected clip with the form's settings. */
  async submit(previewOnly: boolean): Promise<JobRecord | undefined> {
    const blocked = this.blockedReason();
    if (blocked || !this.clip?.ok) {
      this.setNotice('error', blocked ?? 'Select a video clip.');
      return undefined;
    }
    const clip = this.clip.clip;
    const ref: ClipRef = {
      sequenceGuid: clip.sequenceGuid,
      sequenceName: clip.sequenceName,
      trackIndex: clip.trackIndex,
      startTicks: clip.startTicks,
      endTicks: clip.endTicks,
      mediaPath: clip.mediaPath,
      inTicks: clip.inTicks,
      outTicks: clip.outTicks,
      name: clip.name,
    };
    const request = buildRequest(ref, this.settings, previewOnly, (this.options.newKey ?? randomKey)(), this.selectedPreset());
    return this.send(request, previewOnly ? undefined : { clip: ref, mode: this.settings.placement, placed: false });
  }

  /** Runs a finished job again with a new prompt (same clip, settings and placement). */
  async rerun(id: string, prompt: string, previewOnly: boolean): Promise<JobRecord | undefined> {
    const view = this.jobMap.get(id);
    if (!view) return undefined;
    if (prompt.trim() === '') {
      this.setNotice('error', 'Write the new prompt first.');
      return undefined;
    }
    const request: JobRequestInput = {
      ...view.record.request,
      prompt,
      preview_only: previewOnly,
      idempotency_key: (this.options.newKey ?? randomKey)(),
    };
    const previous = view.context ?? this.contexts.get(id);
    const context = previewOnly || !previous ? undefined : { clip: previous.clip, mode: previous.mode, placed: false };
    return this.send(request, context);
  }

  private async send(request: JobRequestInput, context: JobContext | undefined): Promise<JobRecord | undefined> {
    const client = this.requireClient();
    if (!client) return undefined;
    const checked = JobRequest.safeParse(request);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      this.setNotice('error', `${issue?.path.join('.') || 'request'}: ${issue?.message}`);
      return undefined;
    }
    this.submitting = true;
    this.emit('jobs');
    try {
      const { job } = await client.submit(request);
      if (context) this.contexts.set(job.id, context);
      this.upsert(job);
      // Events may have run ahead of this answer: a job already finished is placed now.
      const seen = this.jobMap.get(job.id);
      if (context && seen?.record.state === 'succeeded') void this.place(job.id);
      this.clearNotice();
      return job;
    } catch (err) {
      this.setNotice('error', `The daemon refused the job: ${errorText(err)}`);
      return undefined;
    } finally {
      this.submitting = false;
      this.emit('jobs');
    }
  }

  async cancel(id: string): Promise<void> {
    const client = this.requireClient();
    if (!client) return;
    try {
      this.upsert(await client.cancel(id));
    } catch (err) {
      this.setNotice('error', `Could not cancel: ${errorText(err)}`);
    }
  }

  /** Removes a finished job from the daemon's list (its render stays on disk). */
  async remove(id: string): Promise<void> {
    const client = this.requireClient();
    if (!client) return;
    try {
      await client.deleteJob(id);
    } catch (err) {
      this.setNotice('error', `Could not remove the job: ${errorText(err)}`);
      return;
    }
    this.jobMap.delete(id);
    this.contexts.delete(id);
    this.emit('jobs');
  }

  /** Imports a finished render and places it as its job asked (or as `mode` says). */
  async place(id: string, mode?: PlacementMode): Promise<PlacementResult | undefined> {
    const view = this.jobMap.get(id);
    const context = view?.context ?? this.contexts.get(id);
    const output = view?.record.result?.output_path;
    if (!view || !context || !output || view.placement?.state === 'placing') return undefined;
    const chosen = mode ?? context.mode;
    view.placement = { state: 'placing', message: 'Importing the render…' };
    this.emit('jobs');
    try {
      const result = await this.options.premiere.importAndPlace({ path: output, clip: context.clip, mode: chosen, renderTicks: renderTicks(view.record) });
      this.contexts.markPlaced(id);
      view.context = this.contexts.get(id);
      view.placement = { state: 'placed', message: placementText(result) };
      return result;
    } catch (err) {
      view.placement = { state: 'failed', message: errorText(err) };
      return undefined;
    } finally {
      this.emit('jobs');
    }
  }

  private requireClient(): DaemonClient | undefined {
    const client = this.options.connection.client;
    if (!client) this.setNotice('error', 'Not connected to the TokenFlow daemon.');
    return client;
  }

  /** Takes a record from the daemon; places the render when this panel sees its job finish. */
  private upsert(record: JobRecord): void {
    const previous = this.jobMap.get(record.id);
    const view: JobView = previous ?? { record, previews: [] };
    const wasActive = previous ? isActiveState(previous.record.state) : false;
    view.record = record;
    view.context = this.contexts.get(record.id);
    if (!isActiveState(record.state)) view.progress = undefined;
    this.jobMap.set(record.id, view);
    const context = view.context;
    if (wasActive && record.state === 'succeeded' && context && !context.placed && !record.request.preview_only) {
      void this.place(record.id);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Daemon connection

  private onStatus(status: ConnectionStatus): void {
    this.connection = status;
    if (status.kind === 'connected') this.health = status.health;
    this.emit('connection');
  }

  /** (Re)connected: resynchronise every job with the daemon and report what changed meanwhile. */
  private async onHello(hello: EventOf<'hello'>, client: DaemonClient): Promise<void> {
    const restartedVersion = this.lastServerVersion !== undefined && this.lastServerVersion !== hello.server_version;
    this.lastServerVersion = hello.server_version;
    const known = new Map([...this.jobMap].map(([id, view]) => [id, view.record]));
    // The active jobs' views exist before the list comes: the daemon sends their latest
    // previews right after the hello, and an event for a job without a view is dropped.
    for (const record of hello.jobs) if (!this.jobMap.has(record.id)) this.jobMap.set(record.id, { record, previews: [] });
    let records: JobRecord[];
    try {
      records = await client.listJobs();
    } catch {
      records = hello.jobs;
    }
    const resumed: string[] = [];
    const interrupted: string[] = [];
    const seen = new Set<string>();
    for (const record of records) {
      seen.add(record.id);
      const previous = known.get(record.id);
      // Resumes: started again already (one more attempt), or put back in the queue by the restarted
      // daemon's recovery and not started yet when it was listed.
      const requeued = previous?.state === 'running' && record.state === 'queued';
      if (previous && isActiveState(record.state) && (record.attempts > previous.attempts || requeued)) resumed.push(record.settings.prompt);
      if (previous && isActiveState(previous.state) && record.state === 'interrupted') interrupted.push(record.settings.prompt);
      this.upsert(record);
    }
    for (const id of [...this.jobMap.keys()]) if (!seen.has(id)) this.jobMap.delete(id);
    await this.reloadPresets(client);
    if (resumed.length > 0 || interrupted.length > 0) {
      const parts = [];
      if (resumed.length > 0) parts.push(`${resumed.length} job${resumed.length > 1 ? 's' : ''} will resume`);
      if (interrupted.length > 0) parts.push(`${interrupted.length} could not resume (re-run ${interrupted.length > 1 ? 'them' : 'it'})`);
      this.setNotice('info', `The daemon restarted while rendering: ${parts.join('; ')}.`);
    } else if (restartedVersion) {
      this.setNotice('info', `The daemon was updated to ${hello.server_version}.`);
    }
    this.emit('jobs');
  }

  private onEvent(event: ServerEvent): void {
    switch (event.type) {
      case 'job.state':
        this.upsert(event.job);
        break;
      case 'job.progress': {
        const view = this.jobMap.get(event.job_id);
        if (!view) return;
        // A stage's first event has no estimate yet: the last one, less the time since, stands.
        const previous = view.progress;
        const carried = previous?.eta_s != null && previous.at !== undefined ? Math.max(0, previous.eta_s - (Date.now() - previous.at) / 1000) : null;
        const eta = event.eta_s ?? carried;
        view.progress = { stage: event.stage, done: event.done, total: event.total, eta_s: eta, overall: event.overall, at: Date.now() };
        break;
      }
      case 'job.preview': {
        const view = this.jobMap.get(event.job_id);
        if (!view) return;
        const src = `data:${event.mime};base64,${event.data}`;
        view.previews = [...view.previews.filter((p) => p.index !== event.index), { index: event.index, src }]
          .sort((a, b) => a.index - b.index)
          .slice(-MAX_PREVIEWS);
        break;
      }
      case 'job.deleted':
        this.jobMap.delete(event.job_id);
        break;
      default:
        return;
    }
    this.emit('jobs');
  }
}

export function placementText(result: PlacementResult): string {
  const track = `V${result.trackIndex + 1}`;
  const base =
    result.mode === 'replace' ? `Replaced the clip on ${track}.` : `Placed on ${track}${result.newTrack ? ' (new track)' : ''} above the clip.`;
  return result.warning ? `${base} Note: ${result.warning}.` : base;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
