// A fake `uxp` module and storage for tests (browser-safe: the E2E page uses it too):
// secure storage that answers bytes like UXP's, localStorage in memory, and an entrypoints
// object that records the one allowed setup() call.
import type { KeyValueStore, UxpSecureStorage } from '../../plugin/src/host/storage.ts';

export class MemoryKeyValueStore implements KeyValueStore {
  readonly data = new Map<string, string>();
  getItem(key: string): string | null {
    return this.data.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.data.set(key, String(value));
  }
  removeItem(key: string): void {
    this.data.delete(key);
  }
}

/**
 * Like UXP secureStorage: getItem answers a Uint8Array and rejects for a missing key. With a
 * backing store (the E2E page's localStorage) it survives a page reload, as UXP's does.
 */
export class FakeSecureStorage implements UxpSecureStorage {
  readonly data = new Map<string, Uint8Array>();
  constructor(private readonly backing?: KeyValueStore) {}
  async setItem(key: string, value: string): Promise<void> {
    const bytes = new Uint8Array(value.length);
    for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i);
    this.data.set(key, bytes);
    this.backing?.setItem(`fake-secure:${key}`, value);
  }
  async getItem(key: string): Promise<Uint8Array> {
    const stored = this.backing?.getItem(`fake-secure:${key}`);
    if (stored !== null && stored !== undefined && !this.data.has(key)) await this.setItem(key, stored);
    const value = this.data.get(key);
    if (!value) throw new Error(`secureStorage: no item "${key}"`);
    return value;
  }
  async removeItem(key: string): Promise<void> {
    this.data.delete(key);
    this.backing?.removeItem(`fake-secure:${key}`);
  }
}

export interface SetupArgs {
  plugin?: Record<string, unknown>;
  panels?: Record<string, Record<string, unknown>>;
  commands?: Record<string, unknown>;
}

export class FakeEntrypoints {
  calls: SetupArgs[] = [];
  setup(args: SetupArgs): void {
    if (this.calls.length > 0) throw new Error('entrypoints.setup() may be called only once');
    this.calls.push(args);
  }
  /** Runs a registered command the way the host's menu would. */
  async runCommand(id: string): Promise<void> {
    const command = this.calls[0]?.commands?.[id];
    if (!command) throw new Error(`no command "${id}" registered`);
    await (typeof command === 'function' ? command() : (command as { run: () => unknown }).run());
  }
}

export interface FakeUxpOptions {
  /** What the plugin's manifest lets it reach (default: none listed). */
  networkDomains?: string[];
}

export function createFakeUxp(secureBacking?: KeyValueStore, options: FakeUxpOptions = {}) {
  const entrypoints = new FakeEntrypoints();
  const secureStorage = new FakeSecureStorage(secureBacking);
  const shownPanels: string[] = [];
  /** When set, showPanel rejects with this message (the host disallowed it). */
  const control = { refuseShowPanel: undefined as string | undefined };
  return {
    entrypoints,
    storage: { secureStorage },
    pluginManager: {
      plugins: new Set([
        {
          id: 'com.tokenflow.premiere',
          manifest: { requiredPermissions: { network: { domains: options.networkDomains ?? [] }, ipc: { enablePluginCommunication: true } } },
          // Like UXP's: a Promise, rejected when the host disallows showing the panel.
          showPanel: async (id: string) => {
            if (control.refuseShowPanel) throw new Error(control.refuseShowPanel);
            shownPanels.push(id);
          },
        },
      ]),
    },
    shownPanels,
    control,
  };
}

/** UXP's document.theme as Premiere provides it, with a setter for tests. */
export function createFakeTheme(initial = 'dark') {
  let current = initial;
  const listeners = new Set<(theme: string) => void>();
  return {
    getCurrent: () => current,
    onUpdated: {
      addListener: (listener: (theme: string) => void) => void listeners.add(listener),
      removeListener: (listener: (theme: string) => void) => void listeners.delete(listener),
    },
    set(theme: string): void {
      current = theme;
      for (const listener of listeners) listener(theme);
    },
  };
}
