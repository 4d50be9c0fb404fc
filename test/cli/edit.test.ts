// `tokenflow edit`, spawned through bin/tokenflow.mjs with the bundled tiny model: the output
// appears where -o says, with the range's frame count, the source's size and frame rate; a
// second prompt reuses the inversion; bad settings fail without output; the source is never
// written (symlinks, hard links); unwritable and full output folders get plain errors; Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { probe, resolveBinaries } from '../../companion/media/index.ts';
import { BIN, tempDir, tokenflow } from '../helpers/cli.ts';
import { commandLine, descendants, running } from '../helpers/processes.ts';
import { until } from '../helpers/served_daemon.ts';
import { makeClip } from '../media/clips.ts';

test('tokenflow edit: a range of a clip, output beside the source, same size, rate and range frame count; timings printed', async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  const env = { TOKENFLOW_CACHE_DIR: path.join(dir, 'cache') };
  const clip = await makeClip(path.join(dir, 'clip.mp4'), { width: 80, height: 48, rate: '10', frames: 12 });
  const out = path.join(dir, 'edited.mp4');
  const common = ['--model', 'tiny-sd15', '--steps', '2', '--inversion-steps', '2', '--short-side', '64', '--batch-size', '4', '--codec', 'h264'];
  const r = await tokenflow(['edit', clip, '--prompt', 'a red robot', '--start', '0.2', '--end', '0.8', ...common, '-o', out], env);
  assert.equal(r.code, 0, r.stderr);
  const info = await probe(out);
  assert.deepEqual([info.video.frameCount, info.video.width, info.video.height], [6, 80, 48]);
  assert.deepEqual(info.video.frameRate, { num: 10, den: 1 });
  assert.match(r.stderr, /6 frames at 104x64/);
  assert.match(r.stderr, /timings: probe [\d.]+ s, extract [\d.]+ s, text [\d.]+ s, invert [\d.]+ s, edit [\d.]+ s, decode [\d.]+ s, encode [\d.]+ s; total/);
  assert.match(r.stderr, /edit +\[#+\] 100% +step 2\/2/);
  assert.match(r.stdout, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 6 frames, 80x48, 10/1 fps, h264`));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['cache', 'clip.mp4', 'edited.mp4'], 'no staging folder left');
  // Owner-only cache (frames of the clip), as the daemon writes it; the render with the usual mode.
  const cached = fs.readdirSync(path.join(dir, 'cache'), { recursive: true, withFileTypes: true });
  assert.ok(cached.some((e) => e.isFile()));
  for (const e of cached) assert.equal(fs.statSync(path.join(e.parentPath ?? e.path, e.name)).mode & 0o077, 0, `${e.name} is readable by others`);
  const usual = path.join(dir, 'usual-mode');
  fs.writeFileSync(usual, '');
  assert.equal(fs.statSync(out).mode & 0o777, fs.statSync(usual).mode & 0o777, 'the render has the user\'s usual mode');
  fs.rmSync(usual);

  // Ticks work as well as seconds, and a second prompt on the same range reuses the inversion.
  const again = await tokenflow(['edit', clip, '--prompt', 'a snowy street', '--start', '50803200000t', '--end', '203212800000t', ...common, '-o', path.join(dir, 'b.mov')], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /inversion: reusing the cached latents/);
  assert.match(again.stderr, /inversion from the cache/);

  // Settings that cannot work: nothing is written. Each is its own process, refused before any
  // model runs, so they run side by side (the suite runs one file at a time on two cores).
  const [bad, usage, badExt, badProvider, badPrecision, noOut, noModel] = await Promise.all([
    tokenflow(['edit', clip, '--prompt', 'x', ...common, '--inversion-steps', '3', '-o', path.join(dir, 'c.mp4')], env),
    tokenflow(['edit', clip, '--prompt', 'x', '--steps', '0', '--model', 'tiny-sd15', '-o', path.join(dir, 'd.mov')], env),
    tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '-o', path.join(dir, 'e.mp4')], env),
    tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '--provider', 'metal', '-o', path.join(dir, 'g.mov')], env),
    tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '--precision', 'fp8', '-o', path.join(dir, 'g.mov')], env),
    tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15'], env),
    // No model named and only the bundled test model installed.
    tokenflow(['edit', clip, '--prompt', 'x', '-o', path.join(dir, 'f.mov')], { ...env, TOKENFLOW_MODEL: undefined, HF_HUB_CACHE: path.join(dir, 'empty-hf') }),
  ]);
  assert.equal(bad.code, 1);
  assert.doesNotMatch(bad.stderr, /extract/, 'refused before extracting frames');
  assert.match(bad.stderr, /inversion_steps 3 does not contain the 2 edit timesteps .* must be one of 2, 4, 8, 10, 20, /);
  assert.equal(fs.existsSync(path.join(dir, 'c.mp4')), false);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--steps: steps must be a whole number from 1 to 1000/);
  assert.equal(badExt.code, 2);
  assert.match(badExt.stderr, /ProRes needs a \.mov file/);
  assert.equal(badProvider.code, 2);
  assert.match(badProvider.stderr, /--provider: unknown execution provider "metal"/);
  assert.equal(badPrecision.code, 2);
  assert.match(badPrecision.stderr, /--precision must be float32 or float16, got "fp8"/);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /-o OUT\.mov is required/);
  // Refused, saying what to do.
  assert.equal(noModel.code, 1);
  assert.match(noModel.stderr, /no Stable Diffusion model is installed: run `tokenflow models pull stabilityai\/stable-diffusion-2-1-base`, pass --model DIR, or --model tiny-sd15/);
  assert.equal(fs.existsSync(path.join(dir, 'f.mov')), false);
});

const md5 = (file: string) => createHash('md5').update(fs.readFileSync(file)).digest('hex');

test('tokenflow edit never writes its source, whatever the output path says: a symlink to it, a hard link, the target of an input symlink', async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  const src = await makeClip(path.join(dir, 'src.mov'), { width: 64, height: 64, rate: '10', frames: 4 });
  fs.symlinkSync(src, path.join(dir, 'link.mov'));
  fs.linkSync(src, path.join(dir, 'hard.mov'));
  const before = md5(src);
  const common = ['--prompt', 'x', '--model', 'tiny-sd15', '--steps', '1', '--inversion-steps', '1', '--short-side', '64'];
  const pairs = [['link.mov', 'src.mov'], ['src.mov', 'link.mov'], ['src.mov', 'hard.mov'], ['hard.mov', 'src.mov'], ['src.mov', 'sub/../src.mov']];
  const runs = await Promise.all(pairs.map(([input, output]) => tokenflow(['edit', path.join(dir, input!), '-o', path.join(dir, output!), ...common])));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 2, `${pairs[i]!.join(' -o ')}: ${r.stderr}`);
    assert.match(r.stderr, /the output .* is the input file \(the same file by another name\)/);
  }
  assert.equal(md5(src), before);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['hard.mov', 'link.mov', 'src.mov']);
});

test('tokenflow edit: numeric flags are decimal only, and a negative one gets the range message', async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  const clip = path.join(dir, 'clip.mov');
  const run = (...flags: string[]) => tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '-o', path.join(dir, 'o.mov'), ...flags]);
  const cases: Array<[string[], RegExp]> = [
    [['--steps', '0x10'], /--steps must be a decimal number, got "0x10"/],
    [['--guidance', '1e3'], /--guidance must be a decimal number, got "1e3"/],
    [['--seed', 'Infinity'], /--seed must be a decimal number, got "Infinity"/],
    [['--threads', '0x2'], /--threads must be an integer from 1 to 256, got "0x2"/],
    [['--threads', '-2'], /--threads must be an integer from 1 to 256, got "-2"/],
    [['--steps', '-3'], /--steps: steps must be a whole number from 1 to 1000/],
    [['--guidance', '-0.5'], /--guidance: /],
  ];
  const runs = await Promise.all(cases.map(([flags]) => run(...flags)));
  for (const [i, r] of runs.entries()) {
    const [flags, message] = cases[i]!;
    assert.equal(r.code, 2, flags.join(' '));
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /ambiguous/);
  }
});

test('tokenflow edit into a folder it cannot write: a plain error naming the folder, no temp folder left', async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  const clip = await makeClip(path.join(dir, 'clip.mp4'), { width: 64, height: 64, rate: '10', frames: 4 });
  const locked = path.join(dir, 'locked');
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(locked);
  fs.mkdirSync(tmp);
  // root ignores permission bits; the immutable attribute stops it too.
  if (process.getuid?.() === 0) {
    try {
      execFileSync('chattr', ['+i', locked], { stdio: 'ignore' });
    } catch {
      return t.skip('running as root without chattr: no folder here is unwritable');
    }
  } else {
    fs.chmodSync(locked, 0o555);
  }
  let r;
  try {
    r = await tokenflow(['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '-o', path.join(locked, 'o.mov')], { TMPDIR: tmp });
  } finally {
    if (process.getuid?.() === 0) execFileSync('chattr', ['-i', locked]);
  }
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot write to the output folder ${locked}: (permission denied|it is on a read-only file system)`));
  assert.doesNotMatch(r.stderr, /mkdtemp|EPERM|EACCES|EROFS/);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.startsWith('tokenflow-edit-')), []);
});

test('tokenflow edit with the disk full while writing the render: disk_full naming the output, nothing left', async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  // Test double: the real ffmpeg under a file size limit (the extracted frames fit, the 720p render does not).
  const limited = path.join(dir, 'ffmpeg-limited');
  fs.writeFileSync(limited, `#!/bin/sh\nulimit -f 400\nexec "${resolveBinaries().ffmpeg}" "$@"\n`, { mode: 0o755 });
  const clip = await makeClip(path.join(dir, 'clip.mp4'), { width: 1280, height: 720, rate: '10', frames: 4 });
  const outDir = path.join(dir, 'out');
  fs.mkdirSync(outDir);
  const output = path.join(outDir, 'o.mov');
  const r = await tokenflow(
    ['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '--steps', '1', '--inversion-steps', '1', '--short-side', '64', '-o', output],
    { TOKENFLOW_FFMPEG: limited, TOKENFLOW_CACHE_DIR: path.join(dir, 'cache') },
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`no space left on the device of "${output.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" while writing the render \\(disk_full\\)`));
  assert.doesNotMatch(r.stderr, /\.tokenflow-edit-/);
  assert.deepEqual(fs.readdirSync(outDir), []);
});

test('tokenflow edit: Ctrl-C says at once that it stops after the current step, then stops without output', { skip: process.platform === 'win32' && 'SIGINT' }, async (t) => {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  const clip = await makeClip(path.join(dir, 'clip.mp4'), { width: 64, height: 64, rate: '10', frames: 8 });
  const output = path.join(dir, 'o.mov');
  const child = spawn(process.execPath, [BIN, 'edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '--steps', '1', '--inversion-steps', '1', '--short-side', '64', '-o', output], {
    env: { ...process.env, TOKENFLOW_CACHE_DIR: path.join(dir, 'cache') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let interrupted = false;
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (!interrupted && /invert /.test(stderr)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.ok(interrupted, stderr);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopping after the current step…\n(.|\n)*tokenflow edit: interrupted; nothing was written/);
  assert.equal(fs.existsSync(output), false);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.tokenflow-edit-')), []);
});

/** `tokenflow edit` of a clip whose encode lasts long enough to catch, with its own temp folder. */
async function startEdit(t: { after(fn: () => void): void }) {
  const dir = tempDir(t, 'tokenflow-cli-edit-');
  const tmp = path.join(dir, 'tmp');
  const outDir = path.join(dir, 'out');
  fs.mkdirSync(tmp);
  fs.mkdirSync(outDir);
  const clip = await makeClip(path.join(dir, 'clip.mp4'), { width: 1280, height: 720, rate: '10', frames: 8 });
  const output = path.join(outDir, 'o.mp4');
  const args = ['edit', clip, '--prompt', 'x', '--model', 'tiny-sd15', '--steps', '1', '--inversion-steps', '1', '--short-side', '64', '--codec', 'h264', '-o', output];
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TMPDIR: tmp, TOKENFLOW_CACHE_DIR: path.join(dir, 'cache') }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  return { child, tmp, outDir, output, exited, stderr: () => stderr };
}

/** The temporary folders of `tokenflow edit` (its TMPDIR also holds tsx's cache). */
function leftovers(edit: { outDir: string; tmp: string }): string[] {
  return [...fs.readdirSync(edit.outDir), ...fs.readdirSync(edit.tmp).filter((f) => f.startsWith('tokenflow-edit-'))];
}

test('tokenflow edit killed with -9 mid-encode: its ffmpeg ends by itself and its temporary folders go', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const edit = await startEdit(t);
  const partialWritten = () => fs.readdirSync(edit.outDir).some((f) => fs.readdirSync(path.join(edit.outDir, f)).some((name) => name.endsWith('.partial')));
  await until(() => partialWritten() && descendants(edit.child.pid!).some((p) => commandLine(p).includes('.partial')), 300_000, `the encode:\n${edit.stderr()}`);
  // Frozen, so that it surely runs when its parent dies.
  const encoder = descendants(edit.child.pid!).filter((p) => commandLine(p).includes('.partial'));
  encoder.forEach((p) => process.kill(p, 'SIGSTOP'));
  const children = descendants(edit.child.pid!);
  t.after(() => children.filter(running).forEach((p) => process.kill(p, 'SIGKILL')));
  assert.ok(fs.readdirSync(edit.outDir).some((f) => f.startsWith('.tokenflow-edit-')), 'the staging folder is there');
  assert.ok(fs.readdirSync(edit.tmp).some((f) => f.startsWith('tokenflow-edit-')), 'the work folder is there');
  // Written under umask 077, as the daemon's: the extracted frames of the clip, the edited frames, the partial render.
  const written = leftovers(edit).flatMap((f) => {
    const folder = path.join(f.startsWith('.') ? edit.outDir : edit.tmp, f);
    return fs.readdirSync(folder, { recursive: true, encoding: 'utf8' }).map((name) => path.join(folder, name)).filter((p) => fs.statSync(p).isFile());
  });
  assert.ok(written.some((f) => f.endsWith('.partial')) && written.some((f) => f.endsWith('.rgb')), written.join('\n'));
  for (const file of written) assert.equal(fs.statSync(file).mode & 0o077, 0, `${file} is readable by others`);

  edit.child.kill('SIGKILL');
  assert.equal(await edit.exited, 'SIGKILL');
  await until(() => children.every((p) => !running(p)), 30_000, 'the children of the killed edit to end');
  await until(() => leftovers(edit).length === 0, 30_000, 'the temporary folders to go');
});

test('tokenflow edit: a second Ctrl-C exits at once and leaves no temporary folder', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const edit = await startEdit(t);
  await until(() => /invert /.test(edit.stderr()), 300_000, `the inversion:\n${edit.stderr()}`);
  edit.child.kill('SIGINT');
  await until(() => /stopping after the current step/.test(edit.stderr()), 30_000, 'the first Ctrl-C to be seen');
  edit.child.kill('SIGINT');
  assert.equal(await edit.exited, 'SIGINT');
  await until(() => leftovers(edit).length === 0, 30_000, 'the temporary folders to go');
});
