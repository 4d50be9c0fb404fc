import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaError } from '../../companion/media/index.ts';
import { displayAspect, processingSize } from '../../companion/media/size.ts';

const square = { num: 1, den: 1 };
const size = (w: number, h: number, shortSide?: number, sar = square, rotation: 0 | 90 | 180 | 270 = 0) =>
  processingSize(displayAspect({ displayWidth: w, displayHeight: h, sampleAspectRatio: sar, rotation }), shortSide);

test('short side exact, long side to the nearest multiple of 8', () => {
  assert.deepEqual(size(1920, 1080), { width: 912, height: 512 }); // 910.2 -> 912
  assert.deepEqual(size(1080, 1920), { width: 512, height: 912 });
  assert.deepEqual(size(3840, 2160), { width: 912, height: 512 });
  assert.deepEqual(size(1280, 720), { width: 912, height: 512 });
  assert.deepEqual(size(640, 640), { width: 512, height: 512 });
  assert.deepEqual(size(321, 241), { width: 680, height: 512 }); // 681.96 -> 680
  assert.deepEqual(size(4096, 2160), { width: 968, height: 512 }); // 970.9 -> 968
  assert.deepEqual(size(1920, 1080, 256), { width: 456, height: 256 }); // 455.1 -> 456
  assert.deepEqual(size(64, 48, 64), { width: 88, height: 64 }); // 85.3 -> 88
});

test('halves round up; the long side is never below 8', () => {
  // 512 * 9/8 = 576 exactly; 8 * 13/8 = 13 -> 13/8 = 1.625 -> 2 -> 16; 8 * 12/8 = 12 -> 1.5 -> 2 -> 16 (half up)
  assert.deepEqual(size(9, 8), { width: 576, height: 512 });
  assert.deepEqual(size(13, 8, 8), { width: 16, height: 8 });
  assert.deepEqual(size(12, 8, 8), { width: 16, height: 8 });
  assert.deepEqual(size(11, 8, 8), { width: 8, height: 8 }); // 11/8 = 1.375 -> 1 -> 8
});

test('non-square pixels and rotation are taken into account', () => {
  // DV NTSC 4:3: 720x480 with 8:9 pixels displays as 640x480.
  assert.deepEqual(size(720, 480, 512, { num: 8, den: 9 }), { width: 680, height: 512 });
  // Anamorphic 16:9: 720x480 with 32:27 pixels.
  assert.deepEqual(size(720, 480, 512, { num: 32, den: 27 }), { width: 912, height: 512 });
  // Display size 480x720 after a quarter turn: the 32:27 pixel is now 27:32.
  assert.deepEqual(size(480, 720, 512, { num: 32, den: 27 }, 90), { width: 512, height: 912 });
});

test('every side is a multiple of 8 for many sizes', () => {
  for (let w = 16; w <= 4000; w += 37) {
    for (const h of [17, 240, 241, 1080, 1081, 2160]) {
      const s = size(w, h, 512);
      assert.equal(s.width % 8, 0);
      assert.equal(s.height % 8, 0);
      assert.equal(Math.min(s.width, s.height), 512);
      // Aspect kept within the rounding: at most 4 pixels off on the long side.
      const long = Math.max(s.width, s.height);
      assert.ok(Math.abs(long - (512 * Math.max(w, h)) / Math.min(w, h)) <= 4, `${w}x${h} -> ${s.width}x${s.height}`);
    }
  }
});

test('shortSide must be a positive multiple of 8', () => {
  for (const bad of [0, 7, 500, -8, 12.5, 9000]) {
    assert.throws(() => size(1920, 1080, bad), (err: unknown) => err instanceof MediaError && err.code === 'invalid_argument');
  }
});
