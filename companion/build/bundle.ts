// Bundles the companion to plain JavaScript with esbuild: one ES module per entry of
// ENTRY_MODULES (the CLI and the modules run in child processes and worker threads) in lib/, plus the chunks they
// share, so the packaged companion needs no TypeScript loader. onnxruntime-node stays a
// package of its own (it loads its native binding from its folder); everything else
// (express, ws, zod, onnx-proto, ...) is inlined.
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { ENTRY_MODULES } from '../layout.ts';

/** Packages that are not inlined: onnxruntime-node is shipped as a folder; the rest are ws's optional speed-ups. */
export const EXTERNAL_PACKAGES = ['onnxruntime-node', 'bufferutil', 'utf-8-validate'];

/** Node version the bundle is compiled for: the oldest the package.json engines allow. */
const NODE_TARGET = 'node20';

export interface BundleResult {
  /** The files written, relative to outDir. */
  files: string[];
  /** The npm packages inlined into the bundle (their licences ship with it). */
  inlinedPackages: string[];
}

export async function bundleCompanion(repoRoot: string, outDir: string): Promise<BundleResult> {
  const entryPoints = Object.fromEntries(
    Object.entries(ENTRY_MODULES).map(([name, source]) => [name, path.join(repoRoot, 'companion', `${source}.ts`)]),
  );
  const result = await build({
    entryPoints,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: NODE_TARGET,
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    external: EXTERNAL_PACKAGES,
    define: { TOKENFLOW_PACKAGED: 'true' },
    // CommonJS dependencies call require() for Node built-ins; an ES module has none of its own.
    banner: { js: "import { createRequire as __tokenflowRequire } from 'node:module'; const require = __tokenflowRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'warning',
  });
  return {
    files: Object.keys(result.metafile.outputs).map((f) => path.relative(outDir, path.resolve(f))).sort(),
    inlinedPackages: inlinedPackages(result.metafile),
  };
}

/** Package names of the node_modules inputs (`node_modules/@scope/name/...` or `node_modules/name/...`). */
export function inlinedPackages(metafile: Metafile): string[] {
  const names = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input.replace(/\\/g, '/'));
    if (m) names.add(m[1]!);
  }
  return [...names].sort();
}
