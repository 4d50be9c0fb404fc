// User presets, kept in `<dir>/presets.json` (written atomically), listed after the
// built-in ones. Built-in names cannot be replaced or deleted.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BUILTIN_PRESETS, Preset, type PresetBody } from '../../shared/presets.ts';
import { PresetName } from '../../shared/jobs.ts';
import type { PresetsApi } from './api.ts';
import { JobServiceError, storageError } from './errors.ts';
import { writeFileAtomic } from '../util/atomic_file.ts';

const PresetsFile = z.strictObject({ version: z.literal(1), presets: z.array(Preset) });

export class PresetStore implements PresetsApi {
  private readonly user = new Map<string, Preset>();
  private readonly builtins = new Map(BUILTIN_PRESETS.map((p) => [p.name, p]));
  readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, 'presets.json');
  }

  /** Reads the user presets; a damaged file is reported (not silently replaced). */
  load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let data: z.infer<typeof PresetsFile>;
    try {
      data = PresetsFile.parse(JSON.parse(text));
    } catch (err) {
      throw new Error(`${this.file} is not a valid presets file (${err instanceof Error ? err.message.split('\n')[0] : err}); fix or remove it`);
    }
    this.user.clear();
    for (const p of data.presets) this.user.set(p.name, { ...p, builtin: false });
  }

  list(): Preset[] {
    const byName = (a: Preset, b: Preset) => a.name.localeCompare(b.name);
    return [...[...this.builtins.values()].sort(byName), ...[...this.user.values()].sort(byName)];
  }

  get(name: string): Preset | undefined {
    return this.builtins.get(name) ?? this.user.get(name);
  }

  async put(name: string, body: PresetBody): Promise<Preset> {
    const checkedName = PresetName.safeParse(name);
    if (!checkedName.success) throw new JobServiceError('bad_request', checkedName.error.issues[0].message, { field: 'name' });
    if (this.builtins.has(name)) throw new JobServiceError('conflict', `"${name}" is a built-in preset; choose another name`, { field: 'name' });
    const preset: Preset = { ...body, name, builtin: false };
    const next = new Map(this.user).set(name, preset);
    this.save(next);
    this.user.set(name, preset);
    return preset;
  }

  async delete(name: string): Promise<void> {
    if (this.builtins.has(name)) throw new JobServiceError('conflict', `"${name}" is a built-in preset and cannot be deleted`, { field: 'name' });
    if (!this.user.has(name)) throw new JobServiceError('not_found', `no preset named "${name}"`, { field: 'name' });
    const next = new Map(this.user);
    next.delete(name);
    this.save(next);
    this.user.delete(name);
  }

  private save(presets: Map<string, Preset>): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    try {
      writeFileAtomic(this.file, `${JSON.stringify({ version: 1, presets: [...presets.values()] }, null, 2)}\n`);
    } catch (err) {
      throw storageError(err, path.dirname(this.file), 'the preset was not saved');
    }
  }
}
