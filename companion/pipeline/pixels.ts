// Conversions between the rgb24 frame files (companion/media's RawFrames) and the VAE's
// NCHW float tensors, as the reference computes them: in, `ToTensor` (/255) then `2x - 1`;
// out, `(image / 2 + 0.5).clamp(0, 1)` then x255, rounded to the nearest integer (the
// reference truncates; rounding halves the quantisation error).
import fs from 'node:fs';
import type { RawFrames } from '../media/types.ts';

const f32 = Math.fround;

/** rgb24 bytes of frames [first, first + count). */
export function readRgbFrames(frames: RawFrames, first: number, count: number): Uint8Array {
  if (first < 0 || count < 0 || first + count > frames.count) {
    throw new Error(`${frames.path}: frames ${first}..${first + count - 1} are outside 0..${frames.count - 1}`);
  }
  const per = frames.width * frames.height * 3;
  const out = new Uint8Array(per * count);
  const fd = fs.openSync(frames.path, 'r');
  try {
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(fd, out, done, out.length - done, first * per + done);
      if (n === 0) throw new Error(`${frames.path}: ends before frame ${first + count - 1} (expected ${frames.count} frames of ${frames.width}x${frames.height})`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** rgb24 (NHWC bytes) -> NCHW float32 in [-1, 1]: `2 * (v / 255) - 1` in float32. */
export function rgbToImage(rgb: Uint8Array, n: number, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(n * 3 * plane);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = f32(2 * f32(v / 255)) - 1;
  for (let f = 0; f < n; f++) {
    const src = f * plane * 3;
    const dst = f * 3 * plane;
    for (let p = 0; p < plane; p++) {
      out[dst + p] = lut[rgb[src + 3 * p]!]!;
      out[dst + plane + p] = lut[rgb[src + 3 * p + 1]!]!;
      out[dst + 2 * plane + p] = lut[rgb[src + 3 * p + 2]!]!;
    }
  }
  return out;
}

/** VAE decoder output (NCHW, about [-1, 1]) -> `(x / 2 + 0.5).clamp(0, 1)` in place. */
export function imageToUnit(image: Float32Array): Float32Array {
  for (let i = 0; i < image.length; i++) {
    const v = f32(image[i]! / 2 + 0.5);
    image[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return image;
}

/** NCHW floats in [0, 1] -> rgb24 (NHWC bytes), each value x255 rounded to nearest. */
export function unitToRgb(unit: Float32Array, n: number, height: number, width: number): Uint8Array {
  const plane = height * width;
  const out = new Uint8Array(n * plane * 3);
  for (let f = 0; f < n; f++) {
    const src = f * 3 * plane;
    const dst = f * plane * 3;
    for (let p = 0; p < plane; p++) {
      out[dst + 3 * p] = Math.round(unit[src + p]! * 255);
      out[dst + 3 * p + 1] = Math.round(unit[src + plane + p]! * 255);
      out[dst + 3 * p + 2] = Math.round(unit[src + 2 * plane + p]! * 255);
    }
  }
  return out;
}

/** Box-filter downscale of one rgb24 image so its long side is at most `maxSide` (previews). */
export function downscaleRgb(rgb: Uint8Array, width: number, height: number, maxSide: number): { rgb: Uint8Array; width: number; height: number } {
  const scale = Math.max(width, height) / maxSide;
  if (scale <= 1) return { rgb, width, height };
  const w = Math.max(1, Math.round(width / scale));
  const h = Math.max(1, Math.round(height / scale));
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * height) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * width) / w));
      const sum = [0, 0, 0];
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const i = (yy * width + xx) * 3;
          sum[0] += rgb[i]!;
          sum[1] += rgb[i + 1]!;
          sum[2] += rgb[i + 2]!;
        }
      }
      const count = (y1 - y0) * (x1 - x0);
      const o = (y * w + x) * 3;
      out[o] = Math.round(sum[0]! / count);
      out[o + 1] = Math.round(sum[1]! / count);
      out[o + 2] = Math.round(sum[2]! / count);
    }
  }
  return { rgb: out, width: w, height: h };
}
