// The plugin's icons, drawn here rather than kept as binaries: a wave ("flow") through three
// frames. Panel icons are monochrome per theme; the plugin-list icon is a coloured tile.
// Each shape is a signed-distance test sampled 4×4 per pixel for smooth edges.
import { encodePngRgba } from './png.ts';

type Rgb = [number, number, number];

interface IconStyle {
  /** Tile fill (top and bottom colours of a vertical gradient); undefined = transparent. */
  tile?: [Rgb, Rgb];
  ink: Rgb;
}

/** Distance from (x, y) to a rounded rectangle's edge (negative inside). */
function roundedRect(x: number, y: number, cx: number, cy: number, hw: number, hh: number, r: number): number {
  const qx = Math.abs(x - cx) - hw + r;
  const qy = Math.abs(y - cy) - hh + r;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
}

/** Coverage of the icon's ink and tile at a point of the unit square. */
function sample(u: number, v: number, withTile: boolean): { ink: number; tile: number } {
  const tile = withTile ? (roundedRect(u, v, 0.5, 0.5, 0.48, 0.48, 0.16) <= 0 ? 1 : 0) : 0;
  const pad = withTile ? 0.2 : 0.06;
  const span = 1 - 2 * pad;
  // Three frame outlines side by side.
  let ink = 0;
  for (let i = 0; i < 3; i++) {
    const cx = pad + span * ((i + 0.5) / 3);
    const d = roundedRect(u, v, cx, 0.5, span / 6 - 0.02, span * 0.32, 0.04);
    if (Math.abs(d) <= (withTile ? 0.022 : 0.035)) ink = 1;
  }
  // The wave through them.
  const wave = 0.5 + Math.sin((u - pad) / span * Math.PI * 2) * span * 0.16;
  if (u >= pad - 0.02 && u <= 1 - pad + 0.02 && Math.abs(v - wave) <= (withTile ? 0.045 : 0.06)) ink = 1;
  return { ink, tile };
}

export function drawIcon(size: number, style: IconStyle): Buffer {
  const rgba = new Uint8Array(size * size * 4);
  const n = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let ink = 0;
      let tile = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const s = sample((x + (sx + 0.5) / n) / size, (y + (sy + 0.5) / n) / size, style.tile !== undefined);
          ink += s.ink;
          tile += s.tile;
        }
      }
      ink /= n * n;
      tile /= n * n;
      const t = y / Math.max(1, size - 1);
      const base: Rgb = style.tile ? (style.tile[0].map((c, i) => c + (style.tile![1][i] - c) * t) as Rgb) : style.ink;
      const i = (y * size + x) * 4;
      if (style.tile) {
        const inkOnTile = ink * tile;
        for (let c = 0; c < 3; c++) rgba[i + c] = Math.round(base[c] * (1 - inkOnTile) + style.ink[c] * inkOnTile);
        rgba[i + 3] = Math.round(tile * 255);
      } else {
        for (let c = 0; c < 3; c++) rgba[i + c] = style.ink[c];
        rgba[i + 3] = Math.round(ink * 255);
      }
    }
  }
  return encodePngRgba(rgba, size, size);
}

/** Every icon file manifest.json names (with its @2x variant), by path inside the plugin folder. */
export function pluginIcons(): Map<string, Buffer> {
  const dark: IconStyle = { ink: [214, 214, 214] };
  const light: IconStyle = { ink: [70, 70, 70] };
  const tile: IconStyle = { tile: [[122, 92, 255], [38, 128, 235]], ink: [255, 255, 255] };
  const icons = new Map<string, Buffer>();
  for (const [name, size, style] of [
    ['panel-dark', 23, dark],
    ['panel-light', 23, light],
    ['plugin', 48, tile],
  ] as const) {
    icons.set(`icons/${name}.png`, drawIcon(size, style));
    icons.set(`icons/${name}@2x.png`, drawIcon(size * 2, style));
  }
  return icons;
}
