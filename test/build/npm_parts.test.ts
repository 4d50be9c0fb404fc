import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fetchTarball, fileIntegrity, pinPart, unpackTarball } from '../../companion/build/npm_parts.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-npm-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An npm-style tarball (files under package/) made with tar, as `npm pack` writes one. */
function makeTarball(dir: string, files: Record<string, string>): string {
  const src = path.join(dir, 'src');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, 'package', name)), { recursive: true });
    fs.writeFileSync(path.join(src, 'package', name), text);
  }
  const tarball = path.join(dir, 'cache', 'demo-pkg-1.0.0.tgz');
  fs.mkdirSync(path.dirname(tarball), { recursive: true });
  execFileSync('tar', ['-czf', tarball, '-C', src, 'package']);
  return tarball;
}

test('a part is pinned by the target table, else by package-lock.json', () => {
  const lock = { packages: { 'node_modules/a': { version: '1.2.3', integrity: 'sha512-lock' } } };
  assert.deepEqual(pinPart({ name: 'a' }, lock), { name: 'a', version: '1.2.3', integrity: 'sha512-lock' });
  assert.deepEqual(pinPart({ name: 'a', version: '2.0.0', integrity: 'sha512-table' }, lock), { name: 'a', version: '2.0.0', integrity: 'sha512-table' });
  // A table version other than the locked one does not borrow the lock's integrity.
  assert.throws(() => pinPart({ name: 'a', version: '2.0.0' }, lock), /a is not pinned/);
  assert.throws(() => pinPart({ name: 'b' }, lock), /b is not pinned/);
});

test('a cached tarball whose integrity is not the pinned one is refused and removed', async (t) => {
  const dir = tempDir(t);
  const tarball = makeTarball(dir, { 'package.json': '{}' });
  const pkg = { name: 'demo-pkg', version: '1.0.0', integrity: fileIntegrity(tarball) };
  assert.equal(await fetchTarball(pkg, path.dirname(tarball)), tarball);
  fs.appendFileSync(tarball, 'tampered');
  await assert.rejects(fetchTarball(pkg, path.dirname(tarball)), /demo-pkg@1\.0\.0: the tarball's integrity sha512-.* is not the pinned/);
  assert.equal(fs.existsSync(tarball), false);
});

test('unpacking keeps only the files asked for', async (t) => {
  const dir = tempDir(t);
  const tarball = makeTarball(dir, {
    'package.json': '{}', LICENSE: 'MIT', 'bin/linux/x64/a.node': 'linux', 'bin/win32/x64/a.node': 'windows', 'include/big.h': 'headers',
  });
  const all = await unpackTarball(tarball, path.join(dir, 'all'));
  assert.equal(fs.readFileSync(path.join(all, 'include', 'big.h'), 'utf8'), 'headers');
  const some = await unpackTarball(tarball, path.join(dir, 'some'), (f) => f === 'LICENSE' || f.startsWith('bin/linux/'));
  assert.deepEqual(fs.readdirSync(some, { recursive: true }).map(String).sort(), ['LICENSE', 'bin', 'bin/linux', 'bin/linux/x64', 'bin/linux/x64/a.node']);
});
