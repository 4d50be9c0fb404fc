// The processing size rule, in one place (README "Processing size"):
//
//   Take the picture as displayed: rotation applied, non-square pixels made square.
//   The short side becomes exactly `shortSide` (a positive multiple of 8, default 512).
//   The long side becomes shortSide x (long / short), rounded to the nearest multiple of 8
//   (exact halves round up), never below 8.
//
// e.g. 1920x1080 -> 912x512 (910.2 -> 912), 1080x1920 (portrait) -> 512x912, 321x241 -> 680x512
// (681.96 -> 680), 720x480 with 8:9 pixels (4:3) -> 680x512 (682.7 -> 680), 640x640 -> 512x512.
import { MediaError } from './errors.ts';
import { divRound } from '../../shared/ticks.ts';
import type { Rational, VideoStreamInfo } from './types.ts';

export const DEFAULT_SHORT_SIDE = 512;

export interface Size {
  width: number;
  height: number;
}

/** The display aspect (width / height) as an exact rational: display size times the displayed pixel shape. */
export function displayAspect(video: Pick<VideoStreamInfo, 'displayWidth' | 'displayHeight' | 'sampleAspectRatio' | 'rotation'>): Rational {
  const sar = displaySampleAspect(video);
  return { num: video.displayWidth * sar.num, den: video.displayHeight * sar.den };
}

/** The sample aspect ratio as displayed: a quarter turn swaps a pixel's width and height. */
export function displaySampleAspect(video: Pick<VideoStreamInfo, 'sampleAspectRatio' | 'rotation'>): Rational {
  const sar = video.sampleAspectRatio;
  return video.rotation === 90 || video.rotation === 270 ? { num: sar.den, den: sar.num } : sar;
}

export function assertShortSide(shortSide: number): void {
  if (!Number.isInteger(shortSide) || shortSide < 8 || shortSide % 8 !== 0 || shortSide > 8192) {
    throw new MediaError('invalid_argument', `shortSide must be a multiple of 8 between 8 and 8192, got ${shortSide}`);
  }
}

/** Processing size for a picture of display aspect `aspect` (see the rule above). */
export function processingSize(aspect: Rational, shortSide: number = DEFAULT_SHORT_SIDE): Size {
  assertShortSide(shortSide);
  const num = BigInt(aspect.num);
  const den = BigInt(aspect.den);
  if (num <= 0n || den <= 0n) throw new MediaError('invalid_argument', `aspect ratio must be positive, got ${aspect.num}/${aspect.den}`);
  const side = BigInt(shortSide);
  // long = round(side * long/short / 8) * 8, exact.
  const landscape = num >= den;
  const long = divRound(side * (landscape ? num : den), 8n * (landscape ? den : num), 'round') * 8n;
  const longSide = Number(long < 8n ? 8n : long);
  return landscape ? { width: longSide, height: shortSide } : { width: shortSide, height: longSide };
}
