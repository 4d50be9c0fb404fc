// Where the companion's own files are, in its two forms:
//   source    a checkout: TypeScript modules run through tsx (bin/tokenflow.mjs), the bundled
//             tiny model in test/fixtures, ffmpeg from the @ffmpeg-installer packages;
//   packaged  the folder `npm run package:companion` writes (companion/build/package.ts): the
//             companion bundled by esbuild into lib/<entry>.mjs (+ shared chunks), with
//             node_modules/onnxruntime-node, ffmpeg/, models/ and package.json beside lib/.
// Both keep this module's code one folder below the root (companion/ or lib/), so the root
// is '../' from here either way.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Replaced by `true` through esbuild's `define` when the companion is packaged. */
declare const TOKENFLOW_PACKAGED: true | undefined;

export const packaged = typeof TOKENFLOW_PACKAGED !== 'undefined';

/**
 * The modules that are started by URL (the CLI, what runs in child processes and worker threads), by their
 * source path under companion/. The packager bundles each to lib/<key>.mjs.
 */
export const ENTRY_MODULES = {
  tokenflow: 'cli/entry',
  pipeline_process: 'pipeline_process/entry',
  tokenflow_pipeline: 'pipeline/tokenflow',
  model_inspect_worker: 'hub/inspect_worker',
  placement_child: 'pipeline/placement_child',
  child_watch: 'util/child_watch_entry',
} as const;

export type EntryModule = keyof typeof ENTRY_MODULES;

export function moduleUrl(name: EntryModule): URL {
  return packaged ? new URL(`./${name}.mjs`, import.meta.url) : new URL(`./${ENTRY_MODULES[name]}.ts`, import.meta.url);
}

/** Node's options for a child running an entry module: from source the TypeScript loader (by absolute URL: the working directory may be anywhere). */
export function childExecArgv(): string[] {
  return packaged ? [] : ['--import', import.meta.resolve('tsx')];
}

/** Node's arguments to run an entry module as a child process. */
export function childNodeArgs(name: EntryModule): string[] {
  return [...childExecArgv(), fileURLToPath(moduleUrl(name))];
}

/** The repository (source) or the tokenflow-companion folder (packaged). */
export function packageRoot(): string {
  return fileURLToPath(new URL('../', import.meta.url)).replace(/[\\/]+$/, '');
}

/** The script that runs the `tokenflow` command with this Node (what a login service starts). */
export function cliScript(): string {
  return packaged ? fileURLToPath(moduleUrl('tokenflow')) : path.join(packageRoot(), 'bin', 'tokenflow.mjs');
}

/** Where the packager puts the bundled tiny model, relative to the root. */
export const PACKAGED_MODEL_DIR = 'models';
/** Where the packager puts ffmpeg and ffprobe, relative to the root. */
export const PACKAGED_FFMPEG_DIR = 'ffmpeg';

export function bundledModelDir(): string {
  return packaged
    ? path.join(packageRoot(), PACKAGED_MODEL_DIR, 'tiny-sd15')
    : path.join(packageRoot(), 'test', 'fixtures', 'tiny-sd15');
}

/** The packaged ffmpeg or ffprobe; undefined when running from source. */
export function packagedBinary(name: 'ffmpeg' | 'ffprobe', platform: NodeJS.Platform = process.platform): string | undefined {
  if (!packaged) return undefined;
  return path.join(packageRoot(), PACKAGED_FFMPEG_DIR, platform === 'win32' ? `${name}.exe` : name);
}
