// Where the panel keeps things between sessions, behind interfaces so tests can use fakes:
// the daemon token in UXP secure storage, settings and small records in localStorage.

/** The daemon token. UXP secure storage is encrypted per user but may be lost: a cache. */
export interface SecretStore {
  get(): Promise<string | undefined>;
  set(token: string): Promise<void>;
  clear(): Promise<void>;
}

/** Non-secret key/value strings (UXP's localStorage). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The subset of `require("uxp").storage.secureStorage` used here (UXP 7). */
export interface UxpSecureStorage {
  setItem(key: string, value: string): Promise<void>;
  getItem(key: string): Promise<Uint8Array | ArrayBuffer | string | null | undefined>;
  removeItem(key: string): Promise<void>;
}

export const TOKEN_KEY = 'tokenflow.daemon-token';

/**
 * Bytes to text without TextDecoder (absent in UXP). Tokens are ASCII (base64url); other
 * bytes are decoded as UTF-8 for completeness.
 */
export function bytesToString(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const extra = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
    let code = extra === 0 ? b : b & (0x3f >> extra);
    for (let k = 1; k <= extra; k++) code = (code << 6) | (bytes[i + k] & 0x3f);
    out += String.fromCodePoint(code);
    i += extra + 1;
  }
  return out;
}

export class SecureTokenStore implements SecretStore {
  constructor(private readonly storage: UxpSecureStorage) {}

  async get(): Promise<string | undefined> {
    let value: Awaited<ReturnType<UxpSecureStorage['getItem']>>;
    try {
      value = await this.storage.getItem(TOKEN_KEY);
    } catch {
      return undefined; // no such key: UXP rejects rather than answering null
    }
    if (value === null || value === undefined) return undefined;
    const text = typeof value === 'string' ? value : bytesToString(value instanceof Uint8Array ? value : new Uint8Array(value));
    return text === '' ? undefined : text;
  }

  set(token: string): Promise<void> {
    return this.storage.setItem(TOKEN_KEY, token);
  }

  async clear(): Promise<void> {
    try {
      await this.storage.removeItem(TOKEN_KEY);
    } catch {
      // already absent
    }
  }
}

/** A JSON value under one key; a missing or unreadable value reads as the fallback. */
export function readJson<T>(store: KeyValueStore, key: string, fallback: T): T {
  const raw = store.getItem(key);
  if (raw === null) return fallback;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return fallback;
  }
}

export function writeJson(store: KeyValueStore, key: string, value: unknown): void {
  store.setItem(key, JSON.stringify(value));
}
