// The parts of the `uxp` runtime module the panel uses, typed here: the published
// @adobe/cc-ext-uxp-types redeclare the DOM globals (they cannot be combined with lib "DOM")
// and type entrypoints.setup() with every hook required, which UXP does not require.
import type { ManifestPermissions } from '../app/network.ts';
import type { UxpSecureStorage } from './storage.ts';

export interface UxpPanelHooks {
  create?(rootNode?: unknown): void | Promise<void>;
  show?(rootNode?: unknown): void | Promise<void>;
  hide?(rootNode?: unknown): void | Promise<void>;
  destroy?(rootNode?: unknown): void | Promise<void>;
}

export interface UxpCommand {
  run(): unknown;
}

export interface UxpEntrypointsSetup {
  plugin?: { create?(): void; destroy?(): void };
  panels?: Record<string, UxpPanelHooks>;
  commands?: Record<string, UxpCommand | (() => unknown)>;
}

export interface UxpPlugin {
  id: string;
  /** The plugin's manifest.json as loaded (read-only). */
  manifest?: ManifestPermissions;
  /** Resolves when shown; rejects, or answers a message, when the host disallows it. */
  showPanel?(panelId: string): Promise<void | string> | void | string;
}

export interface UxpModule {
  entrypoints: { setup(entrypoints: UxpEntrypointsSetup): void };
  storage: { secureStorage: UxpSecureStorage };
  pluginManager?: { plugins: Iterable<UxpPlugin> };
}
