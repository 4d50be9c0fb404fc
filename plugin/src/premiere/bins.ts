// Importing a render into the "TokenFlow renders" bin and waiting until Premiere lists it.
// Import and bin creation are host calls outside the placement's undo step (premiere-uxp.md §3).
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
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

async function findClipByPath(ppro: Ppro, bin: FolderItem, path: string): Promise<ClipProjectItem | undefined> {
  for (const item of await bin.getItems()) {
    const clip = ppro.ClipProjectItem.cast(item);
    if (clip && samePath(await clip.getMediaFilePath(), path)) return clip;
  }
  return undefined;
}

/**
 * Imports `path` into `bin` (or finds it there if already imported) and waits until the
 * item is listed and online. `importFiles` answers only "accepted", never the item, so the
 * bin is polled for the file's path (renders have unique names).
 */
export async function importIntoBin(
  ppro: Ppro,
  project: Project,
  bin: FolderItem,
  path: string,
  options: WaitOptions = {},
): Promise<ClipProjectItem> {
  const { timeoutMs = 10_000, pollMs = 200, sleep = defaultSleep } = options;
  let clip = await findClipByPath(ppro, bin, path);
  if (!clip) {
    const accepted = await project.importFiles([path], true, ppro.ProjectItem.cast(bin), false);
    if (!accepted) throw new ImportError(`Premiere did not import ${path} (is the file still there?)`);
    for (let waited = 0; !clip; waited += pollMs) {
      clip = await findClipByPath(ppro, bin, path);
      if (clip) break;
      if (waited >= timeoutMs) {
        throw new ImportError(`${path} was accepted for import but did not appear in the bin "${bin.name}" within ${timeoutMs / 1000} s`);
      }
      await sleep(pollMs);
    }
  }
  if (await clip.isOffline()) throw new ImportError(`the imported render ${path} is offline in Premiere`);
  return clip;
}
