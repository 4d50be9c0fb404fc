// The panel's entry script (bundled to dist/main.js, loaded by index.html). It takes the host
// modules with UXP's require, registers the entry points once, and mounts the panel.
import { COMMAND_ID, PANEL_ID, PLUGIN_ID } from './entrypoints.ts';
import type { UxpModule } from './host/uxp.ts';
import type { Ppro } from './premiere/ppro.ts';
import type { WebSocketLike } from './daemon/connection.ts';
import { mountPanel, type Panel } from './ui/panel.ts';

export interface EntrypointHandlers {
  showPanel(): void;
  editSelected(): Promise<void>;
}

/** The one entrypoints.setup() call: the panel and the "edit selected clip" command. */
export function registerEntrypoints(uxp: UxpModule, handlers: EntrypointHandlers): void {
  uxp.entrypoints.setup({
    panels: { [PANEL_ID]: { show: () => handlers.showPanel() } },
    commands: { [COMMAND_ID]: { run: () => handlers.editSelected() } },
  });
}

function bringPanelForward(uxp: UxpModule): void {
  for (const plugin of uxp.pluginManager?.plugins ?? []) {
    if (plugin.id === PLUGIN_ID) plugin.showPanel?.(PANEL_ID);
  }
}

function boot(): void {
  const hostRequire = (globalThis as { require?: (id: string) => unknown }).require;
  if (!hostRequire) throw new Error('TokenFlow panel: no require() — this script runs inside Premiere Pro (UXP) only');
  const ppro = hostRequire('premierepro') as Ppro;
  const uxp = hostRequire('uxp') as UxpModule;
  let panel: Panel | undefined;
  const mount = (): Panel => {
    const root = document.getElementById('app');
    if (!root) throw new Error('TokenFlow panel: index.html has no #app element');
    panel ??= mountPanel(root, {
      ppro,
      secureStorage: uxp.storage.secureStorage,
      localStorage: globalThis.localStorage,
      fetch: (url, init) => globalThis.fetch(url, init),
      openSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as WebSocketLike,
    });
    return panel;
  };
  registerEntrypoints(uxp, {
    showPanel: () => void mount(),
    editSelected: async () => {
      bringPanelForward(uxp);
      await mount().editSelected();
    },
  });
  mount();
}

// Only when loaded as the bundle in a page (tests import registerEntrypoints in Node).
if (typeof document !== 'undefined') boot();
