// Pixel-by-pixel comparison of two screenshots: how many pixels differ, the box around them,
// and a picture of where (red: differs; magenta: masked on either side; the rest the second
// screenshot, dimmed). Images of different sizes are compared on the larger canvas: a pixel
// only one of them has counts as differing.
import { encodePngRgb } from '../../../companion/util/png.ts';
import type { RgbaImage } from './png.ts';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PixelDiff {
  /** Pixels that differ outside the masks. */
  differing: number;
  /** Pixels left out because a mask covers them on either side. */
  masked: number;
  /** Smallest box around the differing pixels; null when none differ. */
  box: Box | null;
  /** PNG of the comparison canvas. */
  image: Buffer;
}

const RED = [255, 0, 0];
const MAGENTA = [160, 0, 160];
const DIM = 0.35;

export function diffImages(a: RgbaImage, b: RgbaImage, masks: Box[]): PixelDiff {
  const width = Math.max(a.width, b.width);
  const height = Math.max(a.height, b.height);
  const rgb = new Uint8Array(width * height * 3);
  let differing = 0;
  let masked = 0;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * 3;
      if (masks.some((m) => inside(m, x, y))) {
        masked++;
        rgb.set(MAGENTA, out);
      } else if (!samePixel(a, b, x, y)) {
        differing++;
        rgb.set(RED, out);
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      } else {
        const at = (y * b.width + x) * 4;
        for (let c = 0; c < 3; c++) rgb[out + c] = Math.round(b.data[at + c]! * DIM);
      }
    }
  }
  const box = x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
  return { differing, masked, box, image: encodePngRgb(rgb, width, height) };
}

function inside(m: Box, x: number, y: number): boolean {
  return x >= m.x && x < m.x + m.width && y >= m.y && y < m.y + m.height;
}

function samePixel(a: RgbaImage, b: RgbaImage, x: number, y: number): boolean {
  if (x >= a.width || y >= a.height || x >= b.width || y >= b.height) return false;
  const i = (y * a.width + x) * 4;
  const j = (y * b.width + x) * 4;
  return a.data[i] === b.data[j] && a.data[i + 1] === b.data[j + 1] && a.data[i + 2] === b.data[j + 2] && a.data[i + 3] === b.data[j + 3];
}
