// On-disk cache of built graphs (ModelProto bytes; weights stay external). The key covers
// everything that changes the graph: component, its config, mode, dtype, the weights'
// identity, the execution provider, and the graph-building code itself, so editing a model
// file invalidates old entries without a version number to remember.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GraphKey {
  component: string;
  config: unknown;
  mode: string;
  dtype: 'float32' | 'float16';
  /** WeightStore.fingerprint(). */
  weights: string;
  provider: string;
}

export interface CachedGraph {
  bytes: Uint8Array;
  weightsFolder: string | undefined;
  hit: boolean;
}

let codeHash: string | undefined;

/** Hash of the graph-building sources (companion/runtime and companion/models). */
function builderCodeHash(): string {
  if (codeHash) return codeHash;
  const h = createHash('sha256');
  const companion = dirname(dirname(fileURLToPath(import.meta.url)));
  for (const sub of ['runtime', 'models']) {
    const dir = join(companion, sub);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts')).sort()) h.update(f).update(readFileSync(join(dir, f)));
  }
  codeHash = h.digest('hex').slice(0, 16);
  return codeHash;
}

export function graphKeyHash(key: GraphKey): string {
  return createHash('sha256').update(JSON.stringify({ ...key, code: builderCodeHash() })).digest('hex').slice(0, 24);
}

export class GraphCache {
  constructor(readonly dir: string, readonly maxBytes = 256 * 1024 * 1024) {}

  get(key: GraphKey, build: () => { bytes: Uint8Array; weightsFolder: string | undefined }): CachedGraph {
    const base = join(this.dir, `${key.component}-${key.mode}-${graphKeyHash(key)}`);
    if (existsSync(`${base}.onnx`) && existsSync(`${base}.json`)) {
      const meta = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { weightsFolder?: string };
      return { bytes: readFileSync(`${base}.onnx`), weightsFolder: meta.weightsFolder, hit: true };
    }
    const built = build();
    mkdirSync(this.dir, { recursive: true });
    writeAtomic(`${base}.onnx`, built.bytes);
    writeAtomic(`${base}.json`, Buffer.from(JSON.stringify({ key, weightsFolder: built.weightsFolder })));
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
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}
