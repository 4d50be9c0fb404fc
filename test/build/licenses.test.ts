import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { componentLicenseText, isLicenseFile, licenseFiles, writeLicenses } from '../../companion/build/licenses.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-lic-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A folder laid out like the spdx-license-list package (licenses/<id>.json). */
function spdx(dir: string): string {
  fs.mkdirSync(path.join(dir, 'spdx', 'licenses'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'spdx', 'licenses', 'MIT.json'), JSON.stringify({ name: 'MIT License', licenseText: 'MIT License\n\nPermission is hereby granted...' }));
  return path.join(dir, 'spdx');
}

test('licence files are the top-level LICENSE, COPYING and NOTICE files', (t) => {
  const dir = tempDir(t);
  for (const f of ['LICENSE', 'LICENSE-MIT.txt', 'COPYING', 'NOTICE.md', 'README.md', 'licensed.js']) fs.writeFileSync(path.join(dir, f), f);
  assert.deepEqual(licenseFiles(dir).map((f) => path.basename(f)), ['COPYING', 'LICENSE', 'LICENSE-MIT.txt', 'NOTICE.md']);
  assert.equal(isLicenseFile('LICENSE'), true);
  assert.equal(isLicenseFile('dist/LICENSE'), false);
});

test('a component with its own licence file ships it; one without gets the SPDX text, said so', (t) => {
  const dir = tempDir(t);
  const own = path.join(dir, 'own');
  fs.mkdirSync(own);
  fs.writeFileSync(path.join(own, 'LICENSE'), 'Copyright (c) Own Authors');
  const spdxDir = spdx(dir);
  assert.equal(componentLicenseText({ name: 'own', version: '1.0.0', license: 'MIT', dir: own }, spdxDir), 'own 1.0.0\nLicence: MIT\n\nCopyright (c) Own Authors\n');
  const bare = componentLicenseText({ name: 'bare', version: '2.0.0', license: 'MIT', notice: 'Built by us.' }, spdxDir);
  assert.equal(bare, 'bare 2.0.0\nLicence: MIT\nBuilt by us.\n(The npm package ships no licence file; the text below is the SPDX text of MIT.)\n\nMIT License\n\nPermission is hereby granted...\n');
  assert.throws(() => componentLicenseText({ name: 'odd', version: '1', license: 'SEE LICENSE IN x' }, spdxDir), /odd 1: no licence file in its package and no SPDX text for "SEE LICENSE IN x"/);
});

test('the licences folder has one file per component and an index', (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, 'licenses');
  writeLicenses(out, [
    { name: 'zod', version: '4.0.0', license: 'MIT' },
    { name: '@protobufjs/float', version: '1.0.2', license: 'MIT' },
  ], spdx(dir));
  assert.deepEqual(fs.readdirSync(out).sort(), ['README.txt', 'protobufjs+float.txt', 'zod.txt']);
  assert.match(fs.readFileSync(path.join(out, 'README.txt'), 'utf8'), /@protobufjs\/float 1\.0\.2 {2}MIT {2}protobufjs\+float\.txt\nzod 4\.0\.0 {16}MIT {2}zod\.txt\n/);
});
