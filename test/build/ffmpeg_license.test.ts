import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { checkRedistributable, embeddedConfiguration, licenseOfConfiguration } from '../../companion/build/ffmpeg_license.ts';

/** A fake executable: binary noise around ffmpeg's "%sconfiguration: ..." string. */
function fakeBinary(configuration: string): Buffer {
  return Buffer.concat([Buffer.from([0, 1, 2, 0xff]), Buffer.from(`%sconfiguration: ${configuration}`, 'latin1'), Buffer.from([0, 0x80, 7])]);
}

test('the configure line is read out of the binary', () => {
  assert.equal(embeddedConfiguration(fakeBinary('--enable-gpl --enable-version3 --enable-libx264')), '--enable-gpl --enable-version3 --enable-libx264');
  assert.equal(embeddedConfiguration(Buffer.from('no options here')), undefined);
});

test('the licence follows ffmpeg\'s rules, nonfree first', () => {
  assert.equal(licenseOfConfiguration('--enable-gpl --enable-nonfree --enable-libfdk-aac'), 'nonfree');
  assert.equal(licenseOfConfiguration('--enable-gpl --enable-version3'), 'GPL-3.0-or-later');
  assert.equal(licenseOfConfiguration('--enable-gpl'), 'GPL-2.0-or-later');
  assert.equal(licenseOfConfiguration('--enable-version3 --disable-ffplay'), 'LGPL-3.0-or-later');
  assert.equal(licenseOfConfiguration('--disable-ffplay --enable-shared'), 'LGPL-2.1-or-later');
  // A flag that merely starts with --enable-nonfree's letters is not it.
  assert.equal(licenseOfConfiguration('--enable-gpl --enable-nonfreeish'), 'GPL-2.0-or-later');
});

test('a nonfree or unreadable build is refused', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-ffl-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const nonfree = path.join(dir, 'nonfree');
  fs.writeFileSync(nonfree, fakeBinary('--arch=arm64 --enable-gpl --enable-nonfree --enable-libfdk-aac'));
  assert.throws(() => checkRedistributable(nonfree, '@ffmpeg-installer/darwin-arm64@4.1.5'), /@ffmpeg-installer\/darwin-arm64@4\.1\.5 is built with --enable-nonfree: it may not be redistributed/);
  const unknown = path.join(dir, 'unknown');
  fs.writeFileSync(unknown, Buffer.from([0, 1, 2]));
  assert.throws(() => checkRedistributable(unknown, 'x'), /no ffmpeg configure line found .* so its licence is unknown/);
});

test('the installed ffmpeg for this machine is a GPL build that may be shipped', { skip: process.platform !== 'linux' || process.arch !== 'x64' }, () => {
  const require = createRequire(import.meta.url);
  const ffmpeg = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  const build = checkRedistributable(ffmpeg, '@ffmpeg-installer/linux-x64');
  assert.equal(build.license, 'GPL-3.0-or-later');
  assert.match(build.configuration, /^--enable-gpl --enable-version3 --enable-static/);
});
