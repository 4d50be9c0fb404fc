// Small synthetic clips written straight to an rgb24 frame file (companion/media's RawFrames
// layout), for pipeline tests that need frames but not ffmpeg: a diagonal gradient with a
// bright square that moves one pixel per frame.
import fs from 'node:fs';
import type { RawFrames } from '../../companion/media/types.ts';

export function writeSyntheticFrames(file: string, width: number, height: number, count: number, seed = 0): RawFrames {
  const per = width * height * 3;
  const fd = fs.openSync(file, 'w');
  try {
    const frame = new Uint8Array(per);
    for (let f = 0; f < count; f++) {
      const sx = (f + seed) % width;
      const sy = Math.floor(height / 3);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = (y * width + x) * 3;
          const inSquare = x >= sx && x < sx + Math.max(2, width >> 2) && y >= sy && y < sy + Math.max(2, height >> 2);
          frame[i] = inSquare ? 240 : (x * 255) / width;
          frame[i + 1] = inSquare ? 220 : (y * 255) / height;
          frame[i + 2] = (((x + y + 7 * seed) * 4) & 255);
        }
      }
      fs.writeSync(fd, frame);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { path: file, width, height, count };
}
