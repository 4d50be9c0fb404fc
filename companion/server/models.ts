// GET /v1/models and the model part of the health: companion/models' catalog (bundled tiny
// model, Hugging Face cache, TOKENFLOW_MODELS folders) in the shared ModelInfo shape.
// Inspecting every model folder takes tens of milliseconds or more, so the list is cached
// and refreshed in the background: a health request never waits for a disk scan, and a
// refresh re-inspects only folders whose files changed (with the daemon's cached inspector).
import path from 'node:path';
import type { ModelInfo } from '../../shared/health.ts';
import type { LogLevel } from '../../shared/events.ts';
import { ModelId } from '../../shared/jobs.ts';
import { listModels, locateModel } from '../hub/catalog.ts';
import type { ModelInspector } from '../hub/report_cache.ts';

import { processEnv, type Env } from '../config.ts';

export interface ModelListerOptions {
  /** The `--model` value (folder, `tiny-sd15` or hub id); undefined: no default model. */
  defaultModel?: string;
  env?: Env;
  /** How long a listing is served before a background refresh; default 30 s. */
  ttlMs?: number;
  log?: (level: LogLevel, message: string) => void;
  /** How folders are checked (the daemon: cached per folder identity, off the event loop). */
  inspect?: ModelInspector;
}

export interface ModelLister {
  /** The folder of the default model (validated by locateModel), if one is set. */
  readonly defaultDir: string | undefined;
  list(): Promise<ModelInfo[]>;
  /** Forgets the listing (a model was just installed): the next list() scans again. */
  invalidate(): void;
}

/** Throws (with what to do) if `defaultModel` names no folder and no cached hub model. */
export function createModelLister(opts: ModelListerOptions = {}): ModelLister {
  const env = opts.env ?? processEnv();
  const ttl = opts.ttlMs ?? 30_000;
  const defaultDir = opts.defaultModel === undefined ? undefined : locateModel(opts.defaultModel, env).dir;
  let cached: { at: number; models: ModelInfo[] } | undefined;
  let refreshing: Promise<ModelInfo[]> | undefined;

  const refresh = () => {
    refreshing ??= scan(env, defaultDir, opts.defaultModel, opts.inspect)
      .then((models) => {
        cached = { at: Date.now(), models };
        return models;
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };

  return {
    defaultDir,
    async list() {
      if (!cached) return refresh();
      if (Date.now() - cached.at > ttl) {
        refresh().catch((err: unknown) => opts.log?.('warn', `could not list models: ${err instanceof Error ? err.message : err}`));
      }
      return cached.models;
    },
    invalidate() {
      cached = undefined;
    },
  };
}

async function scan(env: Env, defaultDir: string | undefined, defaultValue: string | undefined, inspect?: ModelInspector): Promise<ModelInfo[]> {
  const models: ModelInfo[] = [];
  let defaultListed = false;
  for (const entry of await listModels(env, inspect)) {
    // Entries the protocol cannot name (folder paths, `org/name@revision`) are left out.
    if (!entry.ok || !ModelId.safeParse(entry.id).success) continue;
    const isDefault = defaultDir !== undefined && path.resolve(entry.path) === defaultDir;
    defaultListed ||= isDefault;
    models.push({ id: entry.id, path: entry.path, is_default: isDefault, size_bytes: entry.sizeBytes });
  }
  if (defaultDir !== undefined && !defaultListed) {
    // A default given as a folder outside the catalog: listed under a name the protocol accepts.
    // Jobs use it by leaving `model` out.
    const id = ModelId.safeParse(defaultValue).success ? defaultValue! : folderModelId(defaultDir);
    models.unshift({ id, path: defaultDir, is_default: true, size_bytes: null });
  }
  return models;
}

/** A ModelId for a folder: its name, with characters a model id cannot hold replaced. */
function folderModelId(dir: string): string {
  const cleaned = path.basename(dir).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned === '' ? 'local-model' : cleaned.slice(0, 200);
}
