// The packaged `tokenflow` launchers: the POSIX one runs with an empty PATH and through a
// symbolic link; the Windows one is a CRLF batch file that passes every argument on.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { posixLauncher, windowsLauncher } from '../../companion/build/launcher.ts';

/** A package folder whose runtime/node is a script printing how it was called. */
function fakePackage(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-launch-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'my apps', 'tokenflow-companion');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'runtime'));
  fs.writeFileSync(path.join(root, 'runtime', 'node'), '#!/bin/sh\nfor a in "$0" "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
  fs.writeFileSync(path.join(root, 'bin', 'tokenflow'), posixLauncher(), { mode: 0o755 });
  return root;
}

test('the POSIX launcher runs runtime/node on lib/tokenflow.mjs with an empty PATH', { skip: process.platform === 'win32' }, (t) => {
  const root = fakePackage(t);
  const out = execFileSync('/usr/bin/env', ['-i', 'PATH=/nonexistent', path.join(root, 'bin', 'tokenflow'), 'serve', '--port', 'a b'], { encoding: 'utf8' });
  const real = fs.realpathSync(root);
  assert.deepEqual(out.split('\n').slice(0, -1), [path.join(real, 'runtime', 'node'), path.join(real, 'lib', 'tokenflow.mjs'), 'serve', '--port', 'a b']);
});

test('the POSIX launcher follows a symbolic link to itself (e.g. from ~/.local/bin)', { skip: process.platform === 'win32' }, (t) => {
  const root = fakePackage(t);
  const linkDir = path.join(path.dirname(path.dirname(root)), 'bin');
  fs.mkdirSync(linkDir);
  fs.symlinkSync(path.relative(linkDir, path.join(root, 'bin', 'tokenflow')), path.join(linkDir, 'tokenflow'));
  const out = execFileSync(path.join(linkDir, 'tokenflow'), ['demo'], { encoding: 'utf8' });
  assert.equal(out.split('\n')[1], path.join(fs.realpathSync(root), 'lib', 'tokenflow.mjs'));
});

test('the Windows launcher is a CRLF batch file running runtime\\node.exe with all arguments', () => {
  const text = windowsLauncher();
  assert.ok(!/[^\r]\n/.test(text), 'CRLF only');
  const lines = text.split('\r\n');
  assert.equal(lines[0], '@echo off');
  assert.ok(lines.includes('"%~dp0..\\runtime\\node.exe" "%~dp0..\\lib\\tokenflow.mjs" %*'));
  assert.ok(lines.includes('exit /b %ERRORLEVEL%'));
});
