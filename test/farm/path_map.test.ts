import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapPath, parsePathMapping, unmapPath } from '../../companion/farm/path_map.ts';

const maps = [
  parsePathMapping('/Volumes/Projects=/mnt/projects'),
  parsePathMapping('P:\\=/mnt/projects'),
  parsePathMapping('\\\\nas\\media=/mnt/media'),
  parsePathMapping('/Volumes/Projects/Renders=/mnt/renders'),
];

test('a macOS path maps onto the worker, POSIX rules: exact case, whole components', () => {
  assert.equal(mapPath('/Volumes/Projects/show/a b.mov', maps), '/mnt/projects/show/a b.mov');
  assert.equal(mapPath('/Volumes/projects/show/a.mov', maps), null);
  assert.equal(mapPath('/Volumes/ProjectsOld/a.mov', maps), null);
  assert.equal(mapPath('/Volumes/Projects', maps), '/mnt/projects');
});

test('the longest matching prefix wins', () => {
  assert.equal(mapPath('/Volumes/Projects/Renders/x.mov', maps), '/mnt/renders/x.mov');
});

test('a Windows path maps with either separator and any case', () => {
  assert.equal(mapPath('P:\\Show\\Clip 1.mov', maps), '/mnt/projects/Show/Clip 1.mov');
  assert.equal(mapPath('p:/Show/Clip.mov', maps), '/mnt/projects/Show/Clip.mov');
  assert.equal(mapPath('\\\\NAS\\Media\\day1\\a.mxf', maps), '/mnt/media/day1/a.mxf');
  assert.equal(mapPath('Q:\\Show\\a.mov', maps), null);
});

test('a worker path maps back to the editor side, with its separator', () => {
  const windowsOnly = [parsePathMapping('P:\\=/mnt/projects')];
  assert.equal(unmapPath('/mnt/projects/renders/out.mov', windowsOnly), 'P:\\renders\\out.mov');
  assert.equal(unmapPath('/mnt/projects/renders/out.mov', [parsePathMapping('/Volumes/Projects=/mnt/projects')]), '/Volumes/Projects/renders/out.mov');
  assert.equal(unmapPath('/home/me/out.mov', windowsOnly), null);
  // a worker running on Windows
  assert.equal(unmapPath('D:\\Farm\\out.mov', [parsePathMapping('/Volumes/Farm=d:\\farm')]), '/Volumes/Farm/out.mov');
});

test('a bad mapping is refused naming it', () => {
  assert.throws(() => parsePathMapping('/Volumes/Projects'), /FROM=TO.*\/Volumes\/Projects/);
  assert.throws(() => parsePathMapping('relative=/mnt/x'), /"relative" is not an absolute path/);
  assert.throws(() => parsePathMapping('/a='), /FROM=TO/);
});
