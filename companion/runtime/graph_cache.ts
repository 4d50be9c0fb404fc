// On-disk cache of built graphs (ModelProto bytes; weights stay external). The key covers
// everything that changes the graph: component, its config, mode, dtype, the weights'
// identity, the execution provider, and the graph-building code itself, so editing a model
// file invalidates old entries without a version number to remember. Building a graph takes
// ~0.1 s; a hit also skips re-validating every weight against the config.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packaged } from '../layout.ts';

export interface GraphKey {
  component: string;
  config: unknown;
  mode: string;
  dtype: 'float32' | 'float16';
  /** WeightStore.fingerprint(). */
  weights: string;
  provider: string;
}

/** What a build leaves: the serialised graph, its weights folder, and facts the caller needs back. */
export interface BuiltGraph {
  bytes: Uint8Array;
  weightsFolder: string | undefined;
  /** JSON-serialisable facts about the graph (e.g. its hook points) returned on a cache hit too. */
  meta?: unknown;
}

export interface CachedGraph extends BuiltGraph {
  hit: boolean;
}

let codeHash: string | undefined;

/**
 * Hash of the graph-building code: the sources in companion/runtime, companion/models and
 * companion/pipeline, or, packaged, the bundle they were compiled into (lib/*.mjs).
 */
function builderCodeHash(): string {
  if (codeHash) return codeHash;
  const h = createHash('sha256');
  const here = dirname(fileURLToPath(import.meta.url));
  const dirs = packaged ? [here] : ['runtime', 'models', 'pipeline'].map((sub) => join(dirname(here), sub));
  const ext = packaged ? '.mjs' : '.ts';
  for (const dir of dirs) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith(ext)).sort()) h.update(f).update(readFileSync(join(dir, f)));
  }
  codeHash = h.digest('hex').slice(0, 16);
  return codeHash;
}

export function graphKeyHash(key: GraphKey): string {
  return createHash('sha256').update(JSON.stringify({ ...key, code: builderCodeHash() })).digest('hex').slice(0, 24);
}

export class GraphCache {
  constructor(readonly dir: string, readonly maxBytes = 256 * 1024 * 1024) {}

  get(key: GraphKey, build: () => BuiltGraph): CachedGraph {
    const base = join(this.dir, `${key.component}-${key.mode}-${graphKeyHash(key)}`);
    if (existsSync(`${base}.onnx`) && existsSync(`${base}.json`)) {
      const side = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { weightsFolder?: string; meta?: unknown };
      return { bytes: readFileSync(`${base}.onnx`), weightsFolder: side.weightsFolder, meta: side.meta, hit: true };
    }
    const built = build();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeAtomic(`${base}.onnx`, built.bytes);
    // The sidecar is written last: an entry counts only once both files exist.
    writeAtomic(`${base}.json`, Buffer.from(JSON.stringify({ key, weightsFolder: built.weightsFolder, meta: built.meta })));
    this.evict();
    return { ...built, hit: false };
  }

  /** Drops the oldest entries beyond the size bound. */
  private evict(): void {
    const files = readdirSync(this.dir).filter((f) => f.endsWith('.onnx'))
      .map((f) => ({ f, st: statSync(join(this.dir, f)) }))
      .sort((a, b) => b.st.mtimeMs - a.st.mtimeMs);
    let total = 0;
    for (const [i, { f, st }] of files.entries()) {
      total += st.size;
      if (i > 0 && total > this.maxBytes) { // the entry just written always stays
        unlinkSync(join(this.dir, f));
        const meta = join(this.dir, f.replace(/\.onnx$/, '.json'));
        if (existsSync(meta)) unlinkSync(meta);
      }
    }
  }
}

function writeAtomic(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o600 });
  renameSync(tmp, file);
}
