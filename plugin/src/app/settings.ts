// The panel's persisted settings: the last prompt and everything on the form, kept in UXP
// localStorage (non-secret) so they survive closing the panel or Premiere.
import { DEFAULT_PORT } from '../../../shared/api.ts';
import { DEFAULT_NEGATIVE_PROMPT, DEFAULT_SOURCE_PROMPT } from '../../../shared/jobs.ts';
import { JobParameters, REFERENCE_PARAMETERS } from '../../../shared/parameters.ts';
import { presetDefaults, type Preset } from '../../../shared/presets.ts';
import { readJson, writeJson, type KeyValueStore } from '../host/storage.ts';
import type { PlacementMode } from '../premiere/placement.ts';

/** The daemon's default port; manifest.json allows network access to this port only. */
export const DEFAULT_DAEMON_PORT = DEFAULT_PORT;

export interface PanelSettings {
  port: number;
  prompt: string;
  sourcePrompt: string;
  negativePrompt: string;
  /** Selected preset name; '' for none. */
  preset: string;
  parameters: JobParameters;
  /** Model id; '' for the daemon's default. */
  model: string;
  placement: PlacementMode;
  advancedOpen: boolean;
}

export const SETTINGS_KEY = 'tokenflow.settings.v1';

export function defaultSettings(): PanelSettings {
  return {
    port: DEFAULT_DAEMON_PORT,
    prompt: '',
    sourcePrompt: DEFAULT_SOURCE_PROMPT,
    negativePrompt: DEFAULT_NEGATIVE_PROMPT,
    preset: '',
    parameters: { ...REFERENCE_PARAMETERS },
    model: '',
    placement: 'above',
    advancedOpen: false,
  };
}

/** Stored settings over the defaults; a field that no longer validates falls back to its default. */
export function loadSettings(store: KeyValueStore): PanelSettings {
  const defaults = defaultSettings();
  const raw = readJson<Partial<PanelSettings>>(store, SETTINGS_KEY, {});
  const str = (v: unknown, d: string) => (typeof v === 'string' ? v : d);
  const parameters = JobParameters.safeParse({ ...defaults.parameters, ...(typeof raw.parameters === 'object' ? raw.parameters : {}) });
  const port = Number.isInteger(raw.port) && raw.port! > 0 && raw.port! < 65536 ? raw.port! : defaults.port;
  return {
    port,
    prompt: str(raw.prompt, defaults.prompt),
    sourcePrompt: str(raw.sourcePrompt, defaults.sourcePrompt),
    negativePrompt: str(raw.negativePrompt, defaults.negativePrompt),
    preset: str(raw.preset, defaults.preset),
    parameters: parameters.success ? parameters.data : defaults.parameters,
    model: str(raw.model, defaults.model),
    placement: raw.placement === 'replace' ? 'replace' : 'above',
    advancedOpen: raw.advancedOpen === true,
  };
}

export function saveSettings(store: KeyValueStore, settings: PanelSettings): void {
  writeJson(store, SETTINGS_KEY, settings);
}

/**
 * What picking a preset shows on the form: its negative prompt and parameters over the
 * reference, for the editor to change. The daemon applies the preset to the job (buildRequest
 * sends only what the editor changed).
 */
export function applyPreset(settings: PanelSettings, preset: Preset | undefined): PanelSettings {
  const defaults = presetDefaults(preset);
  return { ...settings, preset: preset?.name ?? '', negativePrompt: defaults.negative_prompt, parameters: defaults.parameters };
}
