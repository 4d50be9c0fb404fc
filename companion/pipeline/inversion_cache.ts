// The inversion cache: the latent stores of earlier preprocessing runs, so that another prompt
// on the same clip range, model and settings skips the VAE encode and the DDIM inversion (the
// larger part of a first edit's UNet work). An entry is keyed by everything the stored latents
// depend on: the source file's identity (path, size, mtime) and a content hash of the range's
// frames, the model's fingerprint, the processing size, the inversion steps and saved
// timesteps, and the inversion prompt.
//
// Layout: `<dir>/<key id>/` holds `entry.json` (the full key) and the store's files. An entry is
// built in `<dir>/.tmp-<key id>-<pid>-<n>/` and renamed into place only when complete, so a
// crash mid-write leaves nothing that a lookup would use. The total size is bounded; the
// entries used longest ago (entry.json's mtime, touched on every hit) are evicted first.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LatentStore } from './latent_store.ts';
import { processAlive } from '../util/process.ts';

export interface SourceIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface InversionKey {
  /** The media file the frames came from (null when they come from elsewhere, e.g. a golden file). */
  source: SourceIdentity | null;
  /** Range of the source the frames stand for (Premiere ticks), when there is a source. */
  range: { startTicks: string; endTicks: string } | null;
  /** sha256 of the frames' rgb24 bytes. */
  framesHash: string;
  /** Which of the frames were inverted: all, or (preview-only jobs) the listed indices. */
  frameSubset: 'all' | number[];
  /** modelFingerprint() of the model folder. */
  model: string;
  width: number;
  height: number;
  inversionSteps: number;
  savedTimesteps: number[];
  inversionPrompt: string;
}

/** Default bound on the cache's total size. */
export const DEFAULT_INVERSION_CACHE_BYTES = 5 * 1024 ** 3;

/** Temporary entries of dead processes, or older than this, are removed. */
const STALE_TMP_MS = 6 * 3600_000;

const ENTRY = 'entry.json';

export function keyId(key: InversionKey): string {
  return createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 32);
}

export interface CacheEntryInfo {
  id: string;
  dir: string;
  bytes: number;
  lastUsedMs: number;
}

/** An entry being built: write the store into `dir`, then commit (or discard). */
export interface PendingEntry {
  readonly dir: string;
  /** Moves the finished entry into place and evicts old entries; returns the entry's folder. */
  commit(): string;
  discard(): void;
}

let tmpCounter = 0;

export class InversionCache {
  constructor(
    readonly dir: string,
    /** Bound on the total size; entries larger than it are not cached at all. */
    readonly maxBytes = DEFAULT_INVERSION_CACHE_BYTES,
  ) {}

  /** The entry's folder when it exists and is complete; marks it used. */
  lookup(key: InversionKey): string | null {
    const dir = path.join(this.dir, keyId(key));
    try {
      const stored = JSON.parse(fs.readFileSync(path.join(dir, ENTRY), 'utf8')) as { key: unknown };
      if (JSON.stringify(stored.key) !== JSON.stringify(key)) return null;
      LatentStore.open(dir); // every file present at its size
      const now = new Date();
      fs.utimesSync(path.join(dir, ENTRY), now, now);
      return dir;
    } catch {
      return null;
    }
  }

  /** Whether an entry of `bytes` may be stored here at all. */
  fits(bytes: number): boolean {
    return bytes <= this.maxBytes;
  }

  /** Starts building the entry for `key` in a private temporary folder. */
  begin(key: InversionKey): PendingEntry {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.removeStaleTemps();
    const id = keyId(key);
    const tmp = path.join(this.dir, `.tmp-${id}-${process.pid}-${Date.now()}-${tmpCounter++}`);
    fs.mkdirSync(tmp, { mode: 0o700 });
    let done = false;
    return {
      dir: tmp,
      commit: () => {
        if (done) throw new Error(`inversion cache entry ${tmp} was already committed or discarded`);
        done = true;
        writeDurably(path.join(tmp, ENTRY), JSON.stringify({ key, created_at: new Date().toISOString() }));
        const final = path.join(this.dir, id);
        try {
          fs.renameSync(tmp, final);
        } catch (err) {
          // Another run finished the same entry first: keep theirs.
          fs.rmSync(tmp, { recursive: true, force: true });
          if (!fs.existsSync(path.join(final, ENTRY))) throw err;
        }
        this.evict(final);
        return final;
      },
      discard: () => {
        done = true;
        fs.rmSync(tmp, { recursive: true, force: true });
      },
    };
  }

  /** Complete entries, least recently used first. */
  entries(): CacheEntryInfo[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: CacheEntryInfo[] = [];
    for (const id of names) {
      if (id.startsWith('.')) continue;
      const dir = path.join(this.dir, id);
      try {
        const lastUsedMs = fs.statSync(path.join(dir, ENTRY)).mtimeMs;
        out.push({ id, dir, bytes: folderBytes(dir), lastUsedMs });
      } catch {
        // Not an entry (no entry.json): ignored here, never used by lookup.
      }
    }
    return out.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  }

  get totalBytes(): number {
    return this.entries().reduce((s, e) => s + e.bytes, 0);
  }

  /** Removes the least recently used entries until the total fits the bound; `keep` stays. */
  evict(keep?: string): string[] {
    const entries = this.entries();
    let total = entries.reduce((s, e) => s + e.bytes, 0);
    const removed: string[] = [];
    for (const e of entries) {
      if (total <= this.maxBytes) break;
      if (keep && path.resolve(e.dir) === path.resolve(keep)) continue;
      // Rename first so a concurrent lookup never sees a half-deleted entry.
      const doomed = path.join(this.dir, `.del-${e.id}-${process.pid}-${tmpCounter++}`);
      try {
        fs.renameSync(e.dir, doomed);
        fs.rmSync(doomed, { recursive: true, force: true });
        total -= e.bytes;
        removed.push(e.id);
      } catch {
        // In use elsewhere (Windows) or already gone: try the next one.
      }
    }
    return removed;
  }

  private removeStaleTemps(): void {
    for (const name of fs.readdirSync(this.dir)) {
      const m = /^\.(tmp|del)-[0-9a-f]+-(\d+)-/.exec(name);
      if (!m) continue;
      const file = path.join(this.dir, name);
      try {
        const pid = Number(m[2]);
        const old = Date.now() - fs.statSync(file).mtimeMs > STALE_TMP_MS;
        if (m[1] === 'del' || old || (pid !== process.pid && !processAlive(pid))) fs.rmSync(file, { recursive: true, force: true });
      } catch {
        // Removed by someone else meanwhile.
      }
    }
  }
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const f of fs.readdirSync(dir)) total += fs.statSync(path.join(dir, f)).size;
  return total;
}

function writeDurably(file: string, text: string): void {
  const fd = fs.openSync(file, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Identity of a model folder for cache keys: the configs' contents and each weight file's real
 * path, size and mtime, for the components preprocessing uses (UNet, VAE, text encoder,
 * tokenizer, scheduler). Reading sizes and mtimes keeps this instant for multi-GB weights.
 */
export function modelFingerprint(modelDir: string): string {
  const h = createHash('sha256');
  for (const component of ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler']) {
    const dir = path.join(modelDir, component);
    let files: string[];
    try {
      files = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const file = path.join(dir, f);
      const real = fs.realpathSync(file);
      const st = fs.statSync(real);
      if (!st.isFile()) continue;
      h.update(`${component}/${f}\0`);
      if (f.endsWith('.json') || f.endsWith('.txt')) h.update(fs.readFileSync(real));
      else h.update(`${real}\0${st.size}\0${st.mtimeMs}\0`);
    }
  }
  return h.digest('hex').slice(0, 32);
}

/** sha256 of a file's bytes, read in 4 MB pieces (the extracted frames of a range). */
export function fileSha256(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4 * 1024 * 1024);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** The frames' SHA-256 and the model's fingerprint, for inversion-cache and checkpoint keys. */
export interface InputIdentity {
  framesHash(): string;
  model(): string;
}

/** An InputIdentity that computes each value once, and only if a cache or checkpoint asks. */
export function inputIdentity(framesPath: string, modelDir: string): InputIdentity {
  let framesHash: string | undefined;
  let model: string | undefined;
  return {
    framesHash: () => (framesHash ??= fileSha256(framesPath)),
    model: () => (model ??= modelFingerprint(modelDir)),
  };
}
