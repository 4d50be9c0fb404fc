// The panel's entry script (bundled to dist/main.js, loaded by index.html). It takes the host
// modules with UXP's require, registers the entry points once, and mounts the panel.
import { allowedDaemonPorts } from './app/network.ts';
import { COMMAND_ID, PANEL_ID, PLUGIN_ID } from './entrypoints.ts';
import { followTheme, type UxpTheme } from './host/theme.ts';
import type { UxpModule, UxpPlugin } from './host/uxp.ts';
import type { Ppro } from './premiere/ppro.ts';
import type { WebSocketLike } from './daemon/connection.ts';
import { showMessage } from './ui/dialog.ts';
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

function ownPlugin(uxp: UxpModule): UxpPlugin | undefined {
  for (const plugin of uxp.pluginManager?.plugins ?? []) if (plugin.id === PLUGIN_ID) return plugin;
  return undefined;
}

/**
 * Shows the panel (pluginManager needs the manifest's ipc.enablePluginCommunication);
 * resolves to why it could not be, or undefined when it was. The host may refuse: the docs
 * say showPanel "may be routed to the host app which can chose to disallow it", answering
 * a rejection or a message string.
 */
export async function bringPanelForward(uxp: UxpModule): Promise<string | undefined> {
  const plugin = ownPlugin(uxp);
  if (!plugin?.showPanel) return 'Premiere does not let the plugin open its panel';
  try {
    const answer = await plugin.showPanel(PANEL_ID);
    return typeof answer === 'string' && answer !== '' ? answer : undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** What the command says when the panel cannot be shown (the clip is loaded in it anyway). */
export function panelRefusedText(reason: string): string {
  return `TokenFlow could not open its panel (${reason}). Open it with Window › UXP Plugins › TokenFlow › TokenFlow; it picks up the selected clip.`;
}

function boot(): void {
  const hostRequire = (globalThis as { require?: (id: string) => unknown }).require;
  if (!hostRequire) throw new Error('TokenFlow panel: no require() — this script runs inside Premiere Pro (UXP) only');
  const ppro = hostRequire('premierepro') as Ppro;
  const uxp = hostRequire('uxp') as UxpModule;
  followTheme(document.documentElement, (document as { theme?: UxpTheme }).theme, () => globalThis.matchMedia?.('(prefers-color-scheme: light)').matches ?? false);
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
      allowedPorts: allowedDaemonPorts(ownPlugin(uxp)?.manifest),
      platform: hostPlatform(hostRequire),
    });
    return panel;
  };
  registerEntrypoints(uxp, {
    showPanel: () => void mount(),
    editSelected: async () => {
      const refused = await bringPanelForward(uxp);
      await mount().editSelected();
      if (refused) await showMessage(document, 'TokenFlow', panelRefusedText(refused));
    },
  });
  mount();
}

/** UXP's os.platform() ("darwin", "win32"); undefined where the host has no os module. */
function hostPlatform(hostRequire: (id: string) => unknown): string | undefined {
  try {
    return (hostRequire('os') as { platform(): string }).platform();
  } catch {
    return undefined;
  }
}

// Only when loaded as the bundle in a page (tests import registerEntrypoints in Node).
if (typeof document !== 'undefined') boot();
