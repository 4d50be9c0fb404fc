// `npm run build:plugin`: bundles the panel with esbuild into plugin/dist/ (a folder the UXP
// Developer Tool loads: manifest.json, index.html, main.js (minified) with its source map,
// styles.css, icons/) and zips that folder into out/tokenflow-premiere-<version>.ccx (the
// installable package), without the source map: editors need neither it nor its size.
// `premierepro` and `uxp` are runtime modules of the host, never bundled.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { pluginIcons } from './icons.ts';
import { createZip } from './zip.ts';

const PLUGIN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO_DIR = path.dirname(PLUGIN_DIR);

export interface BuildOptions {
  /** The loadable plugin folder (default plugin/dist). */
  outDir?: string;
  /** The package (default out/tokenflow-premiere-<version>.ccx). */
  ccxPath?: string;
}

export interface BuildResult {
  outDir: string;
  ccxPath: string;
  /** Files of the plugin folder, relative, sorted. */
  files: string[];
}

/** The panel bundle alone (also used by the E2E test). */
export async function bundlePanel(outfile: string): Promise<void> {
  await esbuild.build({
    entryPoints: [path.join(PLUGIN_DIR, 'src', 'main.ts')],
    outfile,
    bundle: true,
    // UXP loads index.html's scripts as classic scripts with a global require().
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    external: ['premierepro', 'uxp'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  });
}

export async function buildPlugin(options: BuildOptions = {}): Promise<BuildResult> {
  const manifestText = await fs.readFile(path.join(REPO_DIR, 'manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText) as { version: string };
  const outDir = path.resolve(options.outDir ?? path.join(PLUGIN_DIR, 'dist'));
  const ccxPath = path.resolve(options.ccxPath ?? path.join(REPO_DIR, 'out', `tokenflow-premiere-${manifest.version}.ccx`));
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.mkdir(path.join(outDir, 'icons'), { recursive: true });

  await bundlePanel(path.join(outDir, 'main.js'));
  await fs.writeFile(path.join(outDir, 'manifest.json'), manifestText);
  for (const file of ['index.html', 'styles.css']) await fs.copyFile(path.join(PLUGIN_DIR, file), path.join(outDir, file));
  for (const [name, png] of pluginIcons()) await fs.writeFile(path.join(outDir, name), png);

  const files = (await listFiles(outDir)).sort();
  const packaged = files.filter((name) => !name.endsWith('.map'));
  const entries = await Promise.all(packaged.map(async (name) => ({ name, data: withoutMapLink(name, await fs.readFile(path.join(outDir, name))) })));
  await fs.mkdir(path.dirname(ccxPath), { recursive: true });
  await fs.writeFile(ccxPath, createZip(entries));
  return { outDir, ccxPath, files };
}

/** The bundle without its `//# sourceMappingURL=` line (the map stays out of the package). */
function withoutMapLink(name: string, data: Buffer): Buffer {
  if (!name.endsWith('.js')) return data;
  return Buffer.from(data.toString('utf8').replace(/\n\/\/# sourceMappingURL=[^\n]*\n?$/, '\n'));
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await buildPlugin();
  console.log(`plugin folder: ${path.relative(process.cwd(), result.outDir)}/ (${result.files.length} files)`);
  console.log(`package:       ${path.relative(process.cwd(), result.ccxPath)}`);
}
