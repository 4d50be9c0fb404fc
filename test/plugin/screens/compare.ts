// The panel's e2e screenshots of two trees, compared pixel by pixel (not part of npm test):
//
//   node --import tsx test/plugin/screens/compare.ts --base REF [--worktree DIR] [--out DIR]
//
// Runs test/plugin/e2e/panel.test.ts in a git worktree of REF and in this working tree, one
// after the other, and compares every screenshot both write (test/artifacts/panel/ and
// test/artifacts/first-run/). A worktree made here gets this tree's node_modules as a link and,
// when REF predates the screenshots' fixed inputs (test/plugin/e2e/screens.ts), the same
// harness changes applied uncommitted (HARNESS_PATHS, as committed since screens.ts came in;
// on every run, over the worktree's committed harness files).
// Writes report.md, report.json, both trees' screenshots and a diff picture per differing
// screenshot to the output folder. Exit status: 0 all identical, 1 some differ or a test failed,
// 2 no --base.
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { diffImages, type Box, type PixelDiff } from './diff.ts';
import { decodePng } from './png.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const E2E_TEST = 'test/plugin/e2e/panel.test.ts';
const SHOT_FOLDERS = ['test/artifacts/panel', 'test/artifacts/first-run'];
/** The harness files whose changes make the screenshots repeatable. */
const HARNESS_PATHS = ['test/plugin/e2e', 'test/plugin/daemon_harness.ts', 'test/plugin/doubles/panel_pipeline.ts'];
const HARNESS_MARKER = 'test/plugin/e2e/screens.ts';

interface Side {
  label: string;
  tree: string;
  testPassed: boolean;
}

interface Row {
  name: string;
  verdict: 'identical (bytes)' | 'identical (pixels)' | 'differs' | 'only in base' | 'only in head';
  sizes?: string;
  diff?: Omit<PixelDiff, 'image'>;
  masks: string[];
}

function git(cwd: string, args: string[], input?: string): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} (in ${cwd}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** A worktree of `ref` at `dir` (made when missing) with node_modules and the fixed-input harness. */
async function baseTree(ref: string, dir: string): Promise<string> {
  const commit = git(REPO, ['rev-parse', '--verify', `${ref}^{commit}`]);
  if (!existsSync(dir)) {
    git(REPO, ['worktree', 'add', '--detach', dir, commit]);
    await fs.symlink(realpathSync(path.join(REPO, 'node_modules')), path.join(dir, 'node_modules'));
  } else if (git(dir, ['rev-parse', 'HEAD']) !== commit) {
    throw new Error(`${dir} is not a checkout of ${ref} (${commit}); remove it or pass another --worktree`);
  }
  if (spawnSync('git', ['cat-file', '-e', `${commit}:${HARNESS_MARKER}`], { cwd: REPO }).status !== 0) {
    restoreHarness(dir);
    applyHarness(dir);
  }
  return dir;
}

/** The harness files at `dir` as committed there (an earlier run's applied changes undone). */
function restoreHarness(dir: string): void {
  git(dir, ['reset', '-q', '--', ...HARNESS_PATHS]);
  git(dir, ['checkout', '--', ...HARNESS_PATHS]);
  git(dir, ['clean', '-fdq', '--', ...HARNESS_PATHS]);
}

/** Applies this tree's harness changes since HARNESS_MARKER was added to the tree at `dir`, uncommitted. */
function applyHarness(dir: string): void {
  const added = git(REPO, ['log', '--diff-filter=A', '--format=%H', '--', HARNESS_MARKER]).split('\n').filter(Boolean).at(-1);
  if (added === undefined) throw new Error(`${HARNESS_MARKER} is not committed here: commit the harness first`);
  const patch = git(REPO, ['diff', '--binary', `${added}^`, '--', ...HARNESS_PATHS]);
  git(dir, ['apply', '--3way', '--whitespace=nowarn', '-'], `${patch}\n`);
  console.error(`applied the screenshot harness (${HARNESS_PATHS.join(', ')} since ${added.slice(0, 10)}) to ${dir}`);
}

/** Runs the e2e test in `tree` and copies its screenshots to `<out>/<label>/`. */
async function render(side: Omit<Side, 'testPassed'>, out: string): Promise<Side> {
  for (const folder of SHOT_FOLDERS) await fs.rm(path.join(side.tree, folder), { recursive: true, force: true });
  console.error(`${side.label}: running ${E2E_TEST} in ${side.tree}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', './test/helpers/suite_env.ts', '--test', '--test-reporter=spec', E2E_TEST], { cwd: side.tree, encoding: 'utf8' });
  await fs.writeFile(path.join(out, `${side.label}.log`), `${r.stdout}${r.stderr}`);
  for (const folder of SHOT_FOLDERS) {
    const from = path.join(side.tree, folder);
    if (existsSync(from)) await fs.cp(from, path.join(out, side.label, path.basename(folder)), { recursive: true });
  }
  return { ...side, testPassed: r.status === 0 };
}

async function readMasks(png: string): Promise<Array<{ reason: string; box: Box }>> {
  const file = png.replace(/\.png$/, '.masks.json');
  return existsSync(file) ? JSON.parse(await fs.readFile(file, 'utf8')) : [];
}

async function compareShot(out: string, name: string): Promise<Row> {
  const [a, b] = ['base', 'head'].map((label) => path.join(out, label, name));
  if (!existsSync(b!)) return { name, verdict: 'only in base', masks: [] };
  if (!existsSync(a!)) return { name, verdict: 'only in head', masks: [] };
  const masks = [...(await readMasks(a!)), ...(await readMasks(b!))];
  const reasons = [...new Set(masks.map((m) => m.reason))];
  const [bytesA, bytesB] = await Promise.all([fs.readFile(a!), fs.readFile(b!)]);
  if (bytesA.equals(bytesB)) return { name, verdict: 'identical (bytes)', masks: reasons };
  const [imageA, imageB] = [decodePng(bytesA), decodePng(bytesB)];
  const { image, ...diff } = diffImages(imageA, imageB, masks.map((m) => m.box));
  const sizes = `${imageA.width}x${imageA.height} / ${imageB.width}x${imageB.height}`;
  if (diff.differing === 0) return { name, verdict: 'identical (pixels)', sizes, diff, masks: reasons };
  const picture = path.join(out, 'diff', name);
  await fs.mkdir(path.dirname(picture), { recursive: true });
  await fs.writeFile(picture, image);
  return { name, verdict: 'differs', sizes, diff, masks: reasons };
}

async function shotNames(out: string): Promise<string[]> {
  const names = new Set<string>();
  for (const label of ['base', 'head']) {
    for (const folder of SHOT_FOLDERS.map((f) => path.basename(f))) {
      const dir = path.join(out, label, folder);
      if (!existsSync(dir)) continue;
      for (const file of await fs.readdir(dir)) if (file.endsWith('.png')) names.add(`${folder}/${file}`);
    }
  }
  return [...names].sort();
}

function reportMarkdown(base: Side & { ref: string }, head: Side, rows: Row[]): string {
  const box = (b: Box | null | undefined) => (b ? `${b.width}x${b.height} at (${b.x}, ${b.y})` : '');
  const lines = [
    '# Panel e2e screenshots compared',
    '',
    `- base: ${base.ref} in ${base.tree} (e2e test ${base.testPassed ? 'passed' : 'FAILED'})`,
    `- head: ${head.tree} (e2e test ${head.testPassed ? 'passed' : 'FAILED'})`,
    `- ${rows.filter((r) => r.verdict.startsWith('identical')).length} of ${rows.length} identical`,
    '',
    '| screenshot | verdict | sizes (base / head) | differing pixels | box of the difference | masked pixels: why |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.verdict} | ${r.sizes ?? ''} | ${r.diff?.differing ?? ''} | ${box(r.diff?.box)} | ${r.masks.length ? `${r.diff?.masked ?? 'same'}: ${r.masks.join('; ')}` : ''} |`),
    '',
    'Differing screenshots have a picture in diff/ (red: differs, magenta: masked, the rest: head dimmed).',
  ];
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { base: { type: 'string' }, worktree: { type: 'string' }, out: { type: 'string' } } });
  if (values.base === undefined) {
    console.error('usage: node --import tsx test/plugin/screens/compare.ts --base REF [--worktree DIR] [--out DIR]');
    return 2;
  }
  const ref = values.base;
  const worktree = path.resolve(values.worktree ?? path.join(os.tmpdir(), `tokenflow-screens-${git(REPO, ['rev-parse', '--short', `${ref}^{commit}`])}`));
  const out = path.resolve(values.out ?? path.join(REPO, 'out', 'panel-screens'));
  await fs.rm(out, { recursive: true, force: true });
  await fs.mkdir(out, { recursive: true });
  const base = { ...(await render({ label: 'base', tree: await baseTree(ref, worktree) }, out)), ref };
  const head = await render({ label: 'head', tree: REPO }, out);
  const rows = await Promise.all((await shotNames(out)).map((name) => compareShot(out, name)));
  await fs.writeFile(path.join(out, 'report.json'), `${JSON.stringify({ base, head, rows }, null, 2)}\n`);
  const markdown = reportMarkdown(base, head, rows);
  await fs.writeFile(path.join(out, 'report.md'), markdown);
  console.log(markdown);
  console.log(`written to ${out}`);
  return base.testPassed && head.testPassed && rows.every((r) => r.verdict.startsWith('identical')) ? 0 : 1;
}

process.exitCode = await main();
