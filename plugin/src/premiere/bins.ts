// Importing a render into the "TokenFlow renders" bin and waiting until Premiere lists it.
// Import and bin creation are host calls outside the placement's undo step.
import { samePath } from './clip.ts';
import type { ClipProjectItem, FolderItem, Ppro, Project } from './ppro.ts';

export const RENDERS_BIN = 'TokenFlow renders';

export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

export interface WaitOptions {
  /** How long to wait for the imported item to appear (default 10 s). */
  timeoutMs?: number;
  /**
   * Look again this often even without an IMPORT_MEDIA_COMPLETE event (default 1 s): whether
   * Premiere sends it for a scripted import is not documented by Adobe.
   */
  recheckMs?: number;
}

async function findBin(ppro: Ppro, root: FolderItem, name: string): Promise<FolderItem | undefined> {
  for (const item of await root.getItems()) {
    if (item.name === name && item.type === ppro.ProjectItem.TYPE_BIN) return ppro.FolderItem.cast(item);
  }
  return undefined;
}

/** The bin of that name at the project's root, created (its own undo step) if missing. */
export async function findOrCreateBin(ppro: Ppro, project: Project, name = RENDERS_BIN): Promise<FolderItem> {
  const root = await project.getRootItem();
  const existing = await findBin(ppro, root, name);
  if (existing) return existing;
  let created = false;
  project.lockedAccess(() => {
    created = project.executeTransaction((compound) => {
      compound.addAction(root.createBinAction(name, false));
    }, `Create bin ${name}`);
  });
  const bin = created ? await findBin(ppro, root, name) : undefined;
  if (!bin) throw new ImportError(`could not create the bin "${name}" in the project`);
  return bin;
}

/** The bin's clip for `path`; items named like the file are asked first (one round trip each). */
async function findClipByPath(ppro: Ppro, bin: FolderItem, path: string): Promise<ClipProjectItem | undefined> {
  const fileName = path.split(/[\\/]/).pop() ?? path;
  const items = await bin.getItems();
  const ordered = [...items.filter((i) => i.name === fileName), ...items.filter((i) => i.name !== fileName)];
  for (const item of ordered) {
    const clip = ppro.ClipProjectItem.cast(item);
    if (clip && samePath(await clip.getMediaFilePath(), path)) return clip;
  }
  return undefined;
}

/** Premiere's import-complete events, from subscription on; `next` waits for one (or the time). */
function importEvents(ppro: Ppro) {
  const name = ppro.Constants.OperationCompleteEvent.IMPORT_MEDIA_COMPLETE;
  const states: number[] = [];
  let wake: (() => void) | undefined;
  const handler = (event?: object) => {
    states.push((event as { state?: number } | undefined)?.state ?? ppro.OperationCompleteEvent.OPERATION_STATE_SUCCESS);
    wake?.();
  };
  ppro.EventManager.addGlobalEventListener(name, handler);
  return {
    /** The state of the next event, or undefined when `ms` passed first. */
    next(ms: number): Promise<number | undefined> {
      if (states.length) return Promise.resolve(states.shift());
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          wake = undefined;
          resolve(undefined);
        }, ms);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve(states.shift());
        };
      });
    },
    stop: () => ppro.EventManager.removeGlobalEventListener(name, handler),
  };
}

/**
 * Imports `path` into `bin` (or finds it there if already imported) and waits until the
 * item is listed and online. `importFiles` answers only "accepted", never the item, so the
 * bin is looked up for the file's path (renders have unique names): right after the import,
 * then on each IMPORT_MEDIA_COMPLETE event, and every `recheckMs` as a backstop.
 */
export async function importIntoBin(
  ppro: Ppro,
  project: Project,
  bin: FolderItem,
  path: string,
  options: WaitOptions = {},
): Promise<ClipProjectItem> {
  const { timeoutMs = 10_000, recheckMs = 1000 } = options;
  let clip = await findClipByPath(ppro, bin, path);
  if (!clip) {
    const events = importEvents(ppro);
    try {
      const accepted = await project.importFiles([path], true, ppro.ProjectItem.cast(bin), false);
      if (!accepted) throw new ImportError(`Premiere did not import ${path} (is the file still there?)`);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        clip = await findClipByPath(ppro, bin, path);
        if (clip) break;
        const left = deadline - Date.now();
        if (left <= 0) throw new ImportError(`${path} was accepted for import but did not appear in the bin "${bin.name}" within ${timeoutMs / 1000} s`);
        const state = await events.next(Math.min(recheckMs, left));
        if (state === ppro.OperationCompleteEvent.OPERATION_STATE_FAILED || state === ppro.OperationCompleteEvent.OPERATION_STATE_CANCELLED) {
          clip = await findClipByPath(ppro, bin, path);
          if (clip) break;
          const how = state === ppro.OperationCompleteEvent.OPERATION_STATE_FAILED ? 'failed' : 'was cancelled';
          throw new ImportError(`Premiere's import of ${path} ${how}`);
        }
      }
    } finally {
      events.stop();
    }
  }
  if (await clip.isOffline()) throw new ImportError(`the imported render ${path} is offline in Premiere`);
  return clip;
}
