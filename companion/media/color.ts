// Explicit YUV <-> RGB conversion settings. ffmpeg's defaults for untagged video (BT.601)
// shift the colours of HD material, so the matrix is always named.

import type { ColorInfo } from './types.ts';

/**
 * scale-filter options reading the source's YUV: its tagged matrix, or by convention BT.709
 * for HD and larger (height >= 720) and BT.601 below; its tagged range, or ffmpeg's own
 * choice from the pixel format (limited, except the yuvj* formats).
 */
export function sourceToRgbOptions(color: ColorInfo, height: number): string {
  const matrix = swsMatrix(color.matrix) ?? (height >= 720 ? 'bt709' : 'bt601');
  const range = color.range === 'pc' ? ':in_range=full' : color.range === 'tv' ? ':in_range=limited' : '';
  return `in_color_matrix=${matrix}${range}`;
}

/** scale-filter options writing BT.709 limited-range YUV (what the output is tagged as). */
export const RGB_TO_BT709 = 'out_color_matrix=bt709:out_range=limited';

/** Output tags matching RGB_TO_BT709. */
export const BT709_TAGS = ['-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-color_range', 'tv'];

function swsMatrix(matrix: string | null): string | undefined {
  switch (matrix) {
    case 'bt709':
      return 'bt709';
    case 'smpte170m':
    case 'bt470bg':
      return 'bt601';
    case 'bt2020nc':
    case 'bt2020c':
      return 'bt2020';
    case 'smpte240m':
      return 'smpte240m';
    case 'fcc':
      return 'fcc';
    default:
      return undefined;
  }
}
