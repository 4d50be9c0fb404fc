// Random-weight AutoencoderKL checkpoints in the diffusers layout, for tests of configs the
// fixtures do not cover (layers_per_block 2, the full SD channel widths) and for bench/vae.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VaeConfig } from '../../companion/models/config.ts';
import { writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';

/**
 * Writes `<dir>/vae/{config.json, diffusion_pytorch_model.safetensors}` with random weights in
 * the diffusers AutoencoderKL layout; returns the parameter count. Distinct random data, since
 * ORT shares identical prepacked weights and would make the model look smaller than it is.
 */
export function writeRandomVae(dir: string, config: VaeConfig): number {
  mkdirSync(join(dir, 'vae'), { recursive: true });
  writeFileSync(join(dir, 'vae', 'config.json'), JSON.stringify({ _class_name: 'AutoencoderKL', ...config }));
  let seed = 1;
  let params = 0;
  const tensors: [string, TensorToWrite][] = vaeWeightShapes(config).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    params += n;
    // Fan-in scaled weights and near-1 norm scales keep activations O(1) (no denormals or NaN).
    const fanIn = shape.length > 1 ? n / shape[0]! : 1;
    const isNormScale = /norm[^.]*\.weight$/.test(name);
    const data = randomArray(n, seed++, isNormScale ? 0.1 : 1 / Math.sqrt(fanIn));
    if (isNormScale) for (let i = 0; i < n; i++) data[i]! += 1;
    return [name, { dtype: 'F32', shape, data }];
  });
  writeSafetensors(join(dir, 'vae', 'diffusion_pytorch_model.safetensors'), tensors);
  return params;
}

/** Names and shapes of an AutoencoderKL checkpoint (current diffusers names). */
export function vaeWeightShapes(config: VaeConfig): [string, number[]][] {
  const out: [string, number[]][] = [];
  const conv = (p: string, cout: number, cin: number, k = 3) => out.push([`${p}.weight`, [cout, cin, k, k]], [`${p}.bias`, [cout]]);
  const norm = (p: string, c: number) => out.push([`${p}.weight`, [c]], [`${p}.bias`, [c]]);
  const resnet = (p: string, cin: number, cout: number) => {
    norm(`${p}.norm1`, cin);
    conv(`${p}.conv1`, cout, cin);
    norm(`${p}.norm2`, cout);
    conv(`${p}.conv2`, cout, cout);
    if (cin !== cout) conv(`${p}.conv_shortcut`, cout, cin, 1);
  };
  const mid = (p: string, c: number) => {
    resnet(`${p}.resnets.0`, c, c);
    if (config.mid_block_add_attention) {
      norm(`${p}.attentions.0.group_norm`, c);
      for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) out.push([`${p}.attentions.0.${proj}.weight`, [c, c]], [`${p}.attentions.0.${proj}.bias`, [c]]);
    }
    resnet(`${p}.resnets.1`, c, c);
  };
  const ch = config.block_out_channels;
  const L = config.latent_channels;
  const top = ch[ch.length - 1]!;
  conv('encoder.conv_in', ch[0]!, config.in_channels);
  let cin = ch[0]!;
  ch.forEach((cout, i) => {
    for (let j = 0; j < config.layers_per_block; j++) resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? cin : cout, cout);
    if (i < ch.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, cout, cout);
    cin = cout;
  });
  mid('encoder.mid_block', top);
  norm('encoder.conv_norm_out', top);
  conv('encoder.conv_out', 2 * L, top);
  if (config.use_quant_conv) conv('quant_conv', 2 * L, 2 * L, 1);
  if (config.use_post_quant_conv) conv('post_quant_conv', L, L, 1);
  conv('decoder.conv_in', top, L);
  mid('decoder.mid_block', top);
  const reversed = [...ch].reverse();
  cin = top;
  reversed.forEach((cout, i) => {
    for (let j = 0; j <= config.layers_per_block; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? cin : cout, cout);
    if (i < ch.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, cout, cout);
    cin = cout;
  });
  norm('decoder.conv_norm_out', ch[0]!);
  conv('decoder.conv_out', config.out_channels, ch[0]!);
  return out;
}

/** Uniform values in [-scale, scale) from a seeded xorshift generator. */
export function randomArray(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

