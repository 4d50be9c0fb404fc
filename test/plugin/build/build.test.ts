// `npm run build:plugin`: a loadable plugin folder and a .ccx that is a zip of exactly it.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { buildPlugin } from '../../../plugin/build/build.ts';
import { createZip } from '../../../plugin/build/zip.ts';

/** Reads a zip's entries through its central directory. */
function readZip(zip: Buffer): Map<string, Buffer> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, 'end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const dataAt = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(dataAt, dataAt + size);
    entries.set(name, method === 8 ? inflateRawSync(raw) : Buffer.from(raw));
    at += 46 + nameLength;
  }
  return entries;
}

test('zip writer: stored and deflated entries read back; bad names refused', () => {
  const entries = [
    { name: 'a.txt', data: Buffer.from('x'.repeat(1000)) },
    { name: 'dir/b.bin', data: Buffer.from([1, 2, 3]) },
  ];
  const back = readZip(createZip(entries));
  assert.deepEqual([...back.keys()], ['a.txt', 'dir/b.bin']);
  assert.deepEqual(back.get('a.txt'), entries[0].data);
  assert.deepEqual(back.get('dir/b.bin'), entries[1].data);
  assert.throws(() => createZip([{ name: '../x', data: Buffer.alloc(0) }]), /relative path/);
});

test('build: plugin folder with manifest, page, minified bundle and map, styles and icons; the .ccx holds the same files but the map', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tf-plugin-build-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const result = await buildPlugin({ outDir: path.join(dir, 'dist'), ccxPath: path.join(dir, 'tokenflow.ccx') });
  for (const file of ['manifest.json', 'index.html', 'main.js', 'styles.css', 'icons/panel-dark.png', 'icons/plugin@2x.png']) {
    assert.ok(result.files.includes(file), `${file} in the plugin folder`);
  }
  assert.ok(result.files.includes('main.js.map'), 'the source map stays in the plugin folder (UXP Developer Tool debugging)');
  const bundle = await fs.readFile(path.join(result.outDir, 'main.js'), 'utf8');
  assert.ok(!bundle.includes('node_modules/@adobe'), 'host type packages are not bundled');
  assert.match(bundle, /\("premierepro"\)/, 'premierepro is taken from the host at run time');
  assert.ok(!/\brequire\("(node:)?(fs|path|zlib)"\)/.test(bundle), 'no Node modules in the panel');
  // Minified: far under the 902 KB the unminified bundle had.
  assert.ok(bundle.length < 600_000, `bundle is ${bundle.length} bytes`);
  const ccx = readZip(await fs.readFile(result.ccxPath));
  assert.deepEqual([...ccx.keys()].sort(), result.files.filter((f) => f !== 'main.js.map'));
  assert.deepEqual(ccx.get('manifest.json'), await fs.readFile(path.join(result.outDir, 'manifest.json')));
  const packagedBundle = ccx.get('main.js')!.toString('utf8');
  assert.ok(!packagedBundle.includes('sourceMappingURL'), 'no link to a map the package does not hold');
  assert.equal(packagedBundle, bundle.replace(/\n\/\/# sourceMappingURL=main\.js\.map\n$/, '\n'));
});
