// Checkpoints of the edit loop, so that a job resumed after a crash or a restart continues
// from its last completed step instead of step 0 (on a CPU an edit of a real clip takes hours).
//
// After each step the latents x ([n, 4, h, w] float32, a few MB) go to `<dir>/x-<steps>.f32`,
// then `manifest.json` names that file with the edit's key (everything its trajectory depends
// on), the number of steps done and the file's SHA-256. Each file is replaced atomically (temp
// file, fsync, rename, fsync of the folder) and the manifest last, so at every moment the folder
// holds one complete checkpoint or none: a crash mid-write leaves the previous checkpoint. Only
// the latest is kept. A checkpoint is used only when its key matches exactly and its latents are
// whole and match the checksum; anything else is ignored, with the reason.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic_file.ts';

/** JSON values only: the key is compared through its JSON text. */
export type CheckpointKey = { readonly [field: string]: unknown };

interface Manifest {
  version: number;
  key: CheckpointKey;
  /** Edit steps completed: x is the latents after step stepsDone - 1 (0-based). */
  stepsDone: number;
  /** Latents file, in the same folder. */
  file: string;
  bytes: number;
  sha256: string;
  written_at: string;
}

export type CheckpointLookup =
  | { found: 'none' }
  | { found: 'ignored'; reason: string }
  | { found: 'usable'; stepsDone: number; x: Float32Array };

const VERSION = 1;
const MANIFEST = 'manifest.json';
const LATENTS_NAME = /^x-\d{4,}\.f32$/;

export class EditCheckpoint {
  /**
   * @param dir   folder used by this checkpoint alone (created on the first save)
   * @param key   the settings the trajectory depends on
   * @param values number of float32 values in x
   * @param steps the edit's step count: a checkpoint never claims more
   */
  private readonly key: CheckpointKey;

  constructor(
    readonly dir: string,
    key: CheckpointKey,
    private readonly values: number,
    private readonly steps: number,
  ) {
    // As it reads back from the manifest (undefined fields dropped), so equal keys compare equal.
    this.key = JSON.parse(JSON.stringify(key)) as CheckpointKey;
  }

  /** The checkpoint in `dir`, when there is one and it belongs to this edit. */
  load(): CheckpointLookup {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, MANIFEST), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { found: 'none' };
      return ignored(`${MANIFEST} cannot be read (${(err as Error).message})`);
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(text) as Manifest;
    } catch (err) {
      return ignored(`${MANIFEST} is not valid JSON (${(err as Error).message})`);
    }
    const problem = this.manifestProblem(manifest);
    if (problem) return ignored(problem);
    const x = this.readLatents(manifest);
    return typeof x === 'string' ? ignored(x) : { found: 'usable', stepsDone: manifest.stepsDone, x };
  }

  /** Makes x (the latents after `stepsDone` steps) the checkpoint, replacing the previous one. */
  save(stepsDone: number, x: Float32Array): void {
    if (x.length !== this.values) throw new Error(`edit checkpoint: x has ${x.length} values, expected ${this.values}`);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    const file = `x-${String(stepsDone).padStart(4, '0')}.f32`;
    writeFileAtomic(path.join(this.dir, file), bytes);
    const manifest: Manifest = {
      version: VERSION, key: this.key, stepsDone, file, bytes: bytes.byteLength, sha256: sha256(bytes), written_at: new Date().toISOString(),
    };
    writeFileAtomic(path.join(this.dir, MANIFEST), JSON.stringify(manifest));
    // Only now is the previous checkpoint unreferenced (and temp files of a crashed write useless).
    for (const name of fs.readdirSync(this.dir)) {
      if (name !== MANIFEST && name !== file) fs.rmSync(path.join(this.dir, name), { force: true, recursive: true });
    }
  }

  /** Removes the checkpoint (the edit is finished). */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private manifestProblem(m: Manifest): string | null {
    if (typeof m !== 'object' || m === null) return `${MANIFEST} is not an object`;
    if (m.version !== VERSION) return `${MANIFEST} has version ${m.version}, expected ${VERSION}`;
    const differing = differences(m.key, this.key);
    if (differing.length) return `it was made with different settings (${differing.join(', ')})`;
    if (!Number.isInteger(m.stepsDone) || m.stepsDone < 1 || m.stepsDone > this.steps) return `${MANIFEST}: stepsDone ${m.stepsDone} is not in 1..${this.steps}`;
    if (typeof m.file !== 'string' || !LATENTS_NAME.test(m.file)) return `${MANIFEST}: "${m.file}" is not a latents file name`;
    return null;
  }

  /** The latents the manifest names, or why they cannot be used. */
  private readLatents(m: Manifest): Float32Array | string {
    const file = path.join(this.dir, m.file);
    const expected = this.values * 4;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return `${m.file} is missing`;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size !== expected || m.bytes !== expected) return `${m.file} has ${size} bytes (${m.bytes} when written), expected ${expected} (truncated?)`;
      const x = new Float32Array(this.values);
      const bytes = new Uint8Array(x.buffer);
      for (let done = 0; done < expected;) {
        const n = fs.readSync(fd, bytes, done, expected - done, done);
        if (n === 0) return `${m.file} ended after ${done} bytes`;
        done += n;
      }
      if (sha256(bytes) !== m.sha256) return `${m.file} does not match the checksum in ${MANIFEST} (corrupt)`;
      return x;
    } finally {
      fs.closeSync(fd);
    }
  }
}

function ignored(reason: string): CheckpointLookup {
  return { found: 'ignored', reason };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Paths of the fields that differ between two JSON values (`params.seed`, `prompts.prompt`),
 * descending into objects so a log line can say what changed; arrays count as one value.
 */
export function differences(a: unknown, b: unknown, at = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(a) || !isObject(b)) return JSON.stringify(a) === JSON.stringify(b) ? [] : [at || 'key'];
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return fields.flatMap((f) => differences(a[f], b[f], at ? `${at}.${f}` : f));
}
