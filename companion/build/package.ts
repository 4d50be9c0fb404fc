// `npm run package:companion [-- --target <id>] [--out DIR]`: the companion as a folder an
// editor unpacks and runs, with no Node, npm or ffmpeg of their own:
//   tokenflow-companion/
//     bin/tokenflow (.cmd)   launcher (launcher.ts)
//     runtime/node (.exe)    Node runtime (npm: node-<os>-<arch>)
//     lib/*.mjs              the companion bundled to JavaScript (bundle.ts)
//     node_modules/          onnxruntime-node (this target's binding only) + onnxruntime-common
//     ffmpeg/                ffmpeg and ffprobe (npm: @ffmpeg-installer, @ffprobe-installer)
//     models/tiny-sd15/      the bundled tiny model (`tokenflow demo`)
//     licenses/              the licences of everything above (licenses.ts)
//     package.json           name and version (the daemon reports it)
// written as out/companion/tokenflow-companion-<version>-<target>.tar.gz (.zip for Windows).
// Every part comes from the npm registry at package time (npm_parts.ts); nothing is
// downloaded when the companion runs.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { createZip, type ZipEntry } from '../../plugin/build/zip.ts';
import { PACKAGED_FFMPEG_DIR, PACKAGED_MODEL_DIR } from '../layout.ts';
import { bundleCompanion } from './bundle.ts';
import { checkRedistributable } from './ffmpeg_license.ts';
import { posixLauncher, windowsLauncher } from './launcher.ts';
import { isLicenseFile, writeLicenses, type Component } from './licenses.ts';
import { fetchTarball, pinPart, readLockfile, unpackTarball, type PinnedPackage } from './npm_parts.ts';
import { hostTargetId, supportedTarget, TARGETS, type Target, type TargetParts } from './targets.ts';

const run = promisify(execFile);

export const PACKAGE_FOLDER = 'tokenflow-companion';
/** Pinned like the other parts: the licence texts for packages that ship none. */
const SPDX_LIST: PinnedPackage = {
  name: 'spdx-license-list', version: '6.12.0',
  integrity: 'sha512-+nUYqm3aZMSHbjsthK+i/HHI2okTElCvqwUd4k8QcSk+FTGgjq+fsdFj2wZOaX6XmR2JdWhf/NeflNnvKOjcnQ==',
};
/** What a Mac needs before the first run (README, "Install for editors"). */
const MAC_FIRST_RUN = [
  'macOS, before the first run (in Terminal, in the folder holding tokenflow-companion):',
  '  xattr -dr com.apple.quarantine tokenflow-companion   (ffmpeg and ONNX Runtime are not notarized)',
  '  softwareupdate --install-rosetta --agree-to-license  (ffmpeg is an Intel build, run by Rosetta 2)',
];
/** Test-only reference tensors of the tiny model; the demo does not read them. */
const MODEL_SKIP = new Set(['golden']);

export interface PackageOptions {
  repoRoot: string;
  targetId: string;
  /** Where the archive goes (default <repo>/out/companion). */
  outDir?: string;
  /** npm tarball cache (default <repo>/.cache/npm). */
  cacheDir?: string;
  /**
   * tar.gz only: gzip's level, 1 (fastest) to 9; default gzip's own (6). The packaging test
   * asks for 1: it checks what is packed, and level 6 costs it about 8 more CPU-seconds.
   */
  gzipLevel?: number;
  log?: (line: string) => void;
}

export interface PackageResult {
  archive: string;
  target: string;
  version: string;
  archiveBytes: number;
  unpackedBytes: number;
}

export async function packageCompanion(options: PackageOptions): Promise<PackageResult> {
  const { repoRoot } = options;
  const log = options.log ?? (() => {});
  const target = supportedTarget(options.targetId);
  const outDir = options.outDir ?? path.join(repoRoot, 'out', 'companion');
  const cacheDir = options.cacheDir ?? path.join(repoRoot, '.cache', 'npm');
  const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const stage = path.join(outDir, `.stage-${target.id}`);
  const root = path.join(stage, PACKAGE_FOLDER);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  try {
    log(`packaging the companion ${version} for ${target.id}`);
    if (target.note) log(`note: ${target.note}`);
    const components: Component[] = [];
    const scratch = path.join(stage, 'parts');
    const parts = new Parts(repoRoot, cacheDir, scratch);

    log('bundling the companion with esbuild');
    const bundle = await bundleCompanion(repoRoot, path.join(root, 'lib'));
    for (const name of bundle.inlinedPackages) components.push(installedComponent(repoRoot, name));

    log(`Node ${target.parts.node.version} (${target.parts.node.name})`);
    components.push(await addNode(parts, target.parts, root, target));
    log(`onnxruntime-node binding for ${target.parts.ort.platform}/${target.parts.ort.arch}`);
    components.push(...(await addOnnxRuntime(parts, target.parts, root)));
    log(`ffmpeg and ffprobe (${target.parts.ffmpeg.name}, ${target.parts.ffprobe.name})`);
    for (const which of ['ffmpeg', 'ffprobe'] as const) components.push(await addFfmpeg(parts, target.parts[which], root));
    log('the bundled tiny model');
    components.push(addTinyModel(repoRoot, root));

    const spdxDir = await parts.unpack(SPDX_LIST);
    writeLicenses(path.join(root, 'licenses'), components, spdxDir);
    writeTopLevel(root, version, target);
    fs.rmSync(scratch, { recursive: true, force: true });

    const archive = path.join(outDir, `${PACKAGE_FOLDER}-${version}-${target.id}.${target.archive}`);
    log(`writing ${path.relative(repoRoot, archive)}`);
    await writeArchive(stage, archive, target.archive, options.gzipLevel);
    return { archive, target: target.id, version, archiveBytes: fs.statSync(archive).size, unpackedBytes: folderBytes(root) };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/** npm parts, pinned by the target table or package-lock.json, fetched once and unpacked. */
class Parts {
  private readonly lockfile;
  constructor(repoRoot: string, private readonly cacheDir: string, private readonly scratch: string) {
    this.lockfile = readLockfile(repoRoot);
  }

  pin(part: { name: string; version?: string; integrity?: string }): PinnedPackage {
    return pinPart(part, this.lockfile);
  }

  /** Unpacks the package: all of it, or package.json, its licence files and the paths under `only`. */
  async unpack(pkg: PinnedPackage, only?: readonly string[]): Promise<string> {
    const tarball = await fetchTarball(pkg, this.cacheDir);
    const keep = only && ((file: string) => file === 'package.json' || isLicenseFile(file) || only.some((p) => file === p || file.startsWith(`${p}/`)));
    return unpackTarball(tarball, path.join(this.scratch, `${pkg.name.replace('/', '+')}@${pkg.version}`), keep);
  }
}

async function addNode(parts: Parts, p: TargetParts, root: string, target: Target): Promise<Component> {
  const pkg = parts.pin(p.node);
  const dir = await parts.unpack(pkg, [p.node.binary]);
  const dest = path.join(root, 'runtime', target.platform === 'win32' ? 'node.exe' : 'node');
  copyFile(path.join(dir, p.node.binary), dest, 0o755);
  const licensePkg = p.node.licenseFrom ? parts.pin(p.node.licenseFrom) : undefined;
  const licenseDir = licensePkg ? await parts.unpack(licensePkg, []) : dir;
  const notice = `From the npm package ${pkg.name}@${pkg.version}${licensePkg ? ` (its licence file from ${licensePkg.name}@${licensePkg.version})` : ''}.`;
  return { name: 'Node.js', version: pkg.version, license: 'MIT', dir: licenseDir, notice };
}

async function addOnnxRuntime(parts: Parts, p: TargetParts, root: string): Promise<Component[]> {
  const components: Component[] = [];
  for (const name of ['onnxruntime-node', 'onnxruntime-common']) {
    const pkg = parts.pin({ name });
    const binding = path.posix.join('bin', 'napi-v6', p.ort.platform, p.ort.arch);
    const dir = await parts.unpack(pkg, name === 'onnxruntime-node' ? ['dist', binding] : ['dist']);
    const dest = path.join(root, 'node_modules', name);
    copyFile(path.join(dir, 'package.json'), path.join(dest, 'package.json'));
    copyTree(path.join(dir, 'dist'), path.join(dest, 'dist'), (f) => /\.([cm]?js|json)$/.test(f));
    if (name === 'onnxruntime-node') {
      if (!fs.existsSync(path.join(dir, binding))) throw new Error(`${pkg.name}@${pkg.version} has no ${binding}`);
      copyTree(path.join(dir, binding), path.join(dest, binding), () => true);
    }
    const license = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { license: string }).license;
    components.push({ name, version: pkg.version, license, dir, notice: name === 'onnxruntime-node' ? ortNotice(path.join(dir, binding)) : undefined });
  }
  return components;
}

function ortNotice(bindingDir: string): string {
  const lines = ['ONNX Runtime, Copyright (c) Microsoft Corporation.'];
  const directml = fs.readdirSync(bindingDir).filter((f) => /^(DirectML|dxcompiler|dxil)\.dll$/i.test(f));
  if (directml.length) {
    lines.push(`${directml.join(', ')}: Microsoft's DirectML and DirectX Shader Compiler redistributables, shipped inside the`,
      'onnxruntime-node npm package, which carries no separate licence file for them.');
  }
  return lines.join('\n');
}

async function addFfmpeg(parts: Parts, part: TargetParts['ffmpeg'], root: string): Promise<Component> {
  const pkg = parts.pin(part);
  const dir = await parts.unpack(pkg, [part.binary]);
  const file = path.join(dir, part.binary);
  const build = checkRedistributable(file, `${pkg.name}@${pkg.version}`);
  copyFile(file, path.join(root, PACKAGED_FFMPEG_DIR, part.binary), 0o755);
  const tool = part.binary.replace(/\.exe$/, '');
  return {
    name: tool, version: `(${pkg.name}@${pkg.version})`, license: build.license,
    notice: [
      `${tool} from the npm package ${pkg.name}@${pkg.version}, a build of FFmpeg (https://ffmpeg.org).`,
      `Its build configuration (as \`${tool} -buildconf\` prints it) puts it under ${build.license}:`,
      `  ${build.configuration}`,
      'FFmpeg\'s source code is published at https://ffmpeg.org/download.html; the source of the libraries',
      'named in the configuration is published by their projects.',
    ].join('\n'),
  };
}

function addTinyModel(repoRoot: string, root: string): Component {
  const from = path.join(repoRoot, 'test', 'fixtures', 'tiny-sd15');
  copyTree(from, path.join(root, PACKAGED_MODEL_DIR, 'tiny-sd15'), (rel) => !MODEL_SKIP.has(rel.split(/[\\/]/)[0]!));
  return {
    name: 'tiny-sd15', version: '(bundled test model)', license: 'MIT',
    notice: [
      'A randomly initialised Stable Diffusion 1.x style model made for TokenFlow\'s tests',
      '(test/fixtures/README.md). Its tokenizer vocabulary and merges are those of OpenAI\'s CLIP',
      '(MIT licence, Copyright (c) 2021 OpenAI).',
    ].join('\n'),
  };
}

/** An npm package inlined into the bundle, with the licence files of its installed copy. */
function installedComponent(repoRoot: string, name: string): Component {
  const dir = path.join(repoRoot, 'node_modules', name);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string; license?: string };
  return { name, version: pkg.version, license: pkg.license ?? 'UNKNOWN', dir };
}

function writeTopLevel(root: string, version: string, target: Target): void {
  fs.writeFileSync(path.join(root, 'package.json'), `${JSON.stringify({ name: PACKAGE_FOLDER, version, private: true, type: 'module' }, null, 2)}\n`);
  const bin = path.join(root, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  if (target.platform === 'win32') fs.writeFileSync(path.join(bin, 'tokenflow.cmd'), windowsLauncher());
  else fs.writeFileSync(path.join(bin, 'tokenflow'), posixLauncher(), { mode: 0o755 });
  const command = target.platform === 'win32' ? 'bin\\tokenflow.cmd' : 'bin/tokenflow';
  fs.writeFileSync(path.join(root, 'README.txt'), [
    `TokenFlow companion ${version} for ${target.id}`,
    '',
    `Check the install:      ${command} demo`,
    `Run the daemon:         ${command} serve`,
    `Start it at login:      ${command} service install`,
    `All commands:           ${command} --help`,
    '',
    'The licences of the components shipped here are in licenses/.',
    ...(target.platform === 'darwin' ? ['', ...MAC_FIRST_RUN] : []),
    ...(target.note ? ['', `Note: ${target.note}.`] : []),
    '',
  ].join(target.platform === 'win32' ? '\r\n' : '\n'));
}

async function writeArchive(stage: string, archive: string, kind: Target['archive'], gzipLevel?: number): Promise<void> {
  fs.mkdirSync(path.dirname(archive), { recursive: true });
  const tmp = `${archive}.${process.pid}.tmp`;
  if (kind === 'tar.gz') {
    const compress = gzipLevel === undefined ? ['-z'] : ['--use-compress-program', `gzip -${gzipLevel}`];
    await run('tar', ['-c', ...compress, '-f', tmp, '-C', stage, PACKAGE_FOLDER]);
  } else {
    const entries: ZipEntry[] = [];
    for (const rel of listFiles(path.join(stage, PACKAGE_FOLDER))) {
      entries.push({ name: `${PACKAGE_FOLDER}/${rel.split(path.sep).join('/')}`, data: fs.readFileSync(path.join(stage, PACKAGE_FOLDER, rel)) });
    }
    fs.writeFileSync(tmp, createZip(entries));
  }
  fs.renameSync(tmp, archive);
}

function copyFile(from: string, to: string, mode?: number): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  if (mode !== undefined) fs.chmodSync(to, mode);
}

/** Copies the files under `from` whose path relative to it passes `keep`. */
function copyTree(from: string, to: string, keep: (rel: string) => boolean): void {
  for (const rel of listFiles(from)) if (keep(rel)) copyFile(path.join(from, rel), path.join(to, rel));
}

function listFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

function folderBytes(dir: string): number {
  return listFiles(dir).reduce((sum, rel) => sum + fs.statSync(path.join(dir, rel)).size, 0);
}

const USAGE = `Usage: npm run package:companion [-- --target <id>] [--out DIR]

Writes out/companion/${PACKAGE_FOLDER}-<version>-<target>.tar.gz (.zip for Windows).
Targets: ${TARGETS.map((t) => `${t.id}${t.parts ? '' : ' (refused)'}`).join(', ')}; default: this machine's (${hostTargetId()}).`;

async function cli(argv: string[]): Promise<number> {
  let values: { target?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { target: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    console.error(`package:companion: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  try {
    const result = await packageCompanion({
      repoRoot,
      targetId: values.target ?? hostTargetId(),
      outDir: values.out ? path.resolve(values.out) : undefined,
      log: (line) => console.error(line),
    });
    console.log(`${result.archive} (${(result.archiveBytes / 1e6).toFixed(1)} MB; ${(result.unpackedBytes / 1e6).toFixed(1)} MB unpacked)`);
    return 0;
  } catch (err) {
    console.error(`package:companion: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await cli(process.argv.slice(2));
}
