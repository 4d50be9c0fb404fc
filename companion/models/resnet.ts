// diffusers models/resnet.py: ResnetBlock2D (time_embedding_norm "default"), and
// models/downsampling.py / upsampling.py: Downsample2D, Upsample2D (use_conv=True).
import type { Graph, Value } from '../runtime/graph.ts';
import { conv2d, groupNorm, linear, silu } from '../runtime/nn.ts';
import type { Weights } from '../runtime/weights.ts';
import type { UNetHooks } from './unet_hooks.ts';

export interface ResnetBlock2DConfig {
  inChannels: number;
  outChannels: number;
  /** Width of the time embedding; null for blocks without one (the VAE's). */
  tembChannels: number | null;
  groups: number;
  eps: number;
  /** The output is divided by it (diffusers' output_scale_factor). */
  outputScaleFactor: number;
}

/**
 * ResnetBlock2D: norm1 -> SiLU -> conv1 (+ time_emb_proj(SiLU(temb))) -> norm2 -> SiLU -> conv2,
 * plus the input (through a 1x1 conv_shortcut when the width changes), over outputScaleFactor.
 * `hooks.resnet` may replace the conv2 output (TokenFlow's conv-feature injection).
 */
export function resnetBlock2D(g: Graph, w: Weights, input: Value, temb: Value | null, cfg: ResnetBlock2DConfig, hooks: UNetHooks = {}): Value {
  const { inChannels: cin, outChannels: cout, eps, groups } = cfg;
  const name = w.path;
  let h = silu(g, groupNorm(g, w.pp('norm1'), input, cin, groups, eps), name);
  h = conv2d(g, w.pp('conv1'), h, cin, cout);
  if (cfg.tembChannels !== null) {
    if (!temb) throw new Error(`${name}: the block has a time embedding projection but no temb was given`);
    const t = linear(g, w.pp('time_emb_proj'), silu(g, temb, name), cfg.tembChannels, cout); // [B, Cout]
    h = g.node('Add', [h, g.node('Unsqueeze', [t, g.ints([2, 3])], {}, { name })], {}, { name }); // + [B, Cout, 1, 1]
  }
  h = silu(g, groupNorm(g, w.pp('norm2'), h, cout, groups, eps), name);
  const conv2Output = conv2d(g, w.pp('conv2'), h, cout, cout);
  hooks.tap?.(`${name}.input`, input, g);
  if (temb) hooks.tap?.(`${name}.temb`, temb, g);
  hooks.tap?.(`${name}.conv2.output`, conv2Output, g);
  const residual = hooks.resnet?.({ g, path: name, input, temb, conv2Output }) ?? conv2Output;
  const shortcut = cin === cout ? input : conv2d(g, w.pp('conv_shortcut'), input, cin, cout, { kernel: 1 });
  let out = g.node('Add', [shortcut, residual], {}, { name });
  if (cfg.outputScaleFactor !== 1) out = g.node('Div', [out, g.scalar(cfg.outputScaleFactor, out.type)], {}, { name });
  hooks.tap?.(`${name}.output`, out, g);
  return out;
}

/**
 * Downsample2D with a conv: 3x3 stride 2. padding 1 pads every side; padding 0 (the VAE's)
 * is diffusers' F.pad(x, (0, 1, 0, 1)) before an unpadded conv, folded into the Conv's own
 * asymmetric pads [top, left, bottom, right] rather than a Pad node (which would copy x).
 */
export function downsample2D(g: Graph, w: Weights, x: Value, channels: number, opts: { padding: number }): Value {
  const p = opts.padding;
  const pads: [number, number, number, number] = p === 0 ? [0, 0, 1, 1] : [p, p, p, p];
  return conv2d(g, w.pp('conv'), x, channels, channels, { kernel: 3, stride: 2, pads }); // [B, C, H/2, W/2]
}

/**
 * Upsample2D with a conv: nearest-neighbour resize then 3x3 conv. With `sizeOf` the result
 * takes that tensor's height and width (diffusers' `upsample_size`, used when the latent sides
 * are not multiples of the total downscale: 9 -> 17, not 18); otherwise it doubles. Torch's
 * "nearest" picks source index floor(dst * in / out), which is ONNX's asymmetric + floor.
 */
export function upsample2D(g: Graph, w: Weights, x: Value, channels: number, sizeOf?: Value): Value {
  const name = w.path;
  const mode = { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' };
  let up: Value;
  if (sizeOf) {
    const nc = g.node('Slice', [g.node('Shape', [x], {}, { name }), g.ints([0]), g.ints([2])], {}, { name }); // [B, C]
    const hw = g.node('Slice', [g.node('Shape', [sizeOf], {}, { name }), g.ints([2]), g.ints([4])], {}, { name }); // [H', W']
    const sizes = g.node('Concat', [nc, hw], { axis: 0 }, { name });
    up = g.node('Resize', [x, null, null, sizes], mode, { name }); // [B, C, H', W']
  } else {
    up = g.node('Resize', [x, null, g.constant([1, 1, 2, 2])], mode, { name }); // [B, C, 2H, 2W]
  }
  return conv2d(g, w.pp('conv'), up, channels, channels);
}
