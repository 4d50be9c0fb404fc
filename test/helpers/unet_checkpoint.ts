// Synthetic UNet2DConditionModel checkpoints for tests and benchmarks: the diffusers state-dict
// names and shapes for a config, written out independently of the graph builder (so a test
// that builds from them checks the builder's naming), filled with seeded random values.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unetBlockSettings, unetConfigSchema, type UNetConfig } from '../../companion/models/config.ts';
import { toFloat16, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';

export type WeightShapes = [name: string, shape: number[]][];

/** Every tensor name and shape diffusers' UNet2DConditionModel has for `c` (SD 1.x / 2.x subset). */
export function unetWeightShapes(c: UNetConfig): WeightShapes {
  const out: WeightShapes = [];
  const add = (name: string, shape: number[]) => out.push([name, shape]);
  const conv = (p: string, cout: number, cin: number, k: number) => { add(`${p}.weight`, [cout, cin, k, k]); add(`${p}.bias`, [cout]); };
  const lin = (p: string, cout: number, cin: number, bias = true) => { add(`${p}.weight`, [cout, cin]); if (bias) add(`${p}.bias`, [cout]); };
  const norm = (p: string, ch: number) => { add(`${p}.weight`, [ch]); add(`${p}.bias`, [ch]); };
  const blocks = unetBlockSettings(c);
  const ch = c.block_out_channels;
  const n = ch.length;
  const ted = c.time_embedding_dim ?? ch[0]! * 4;

  const resnet = (p: string, cin: number, cout: number) => {
    norm(`${p}.norm1`, cin);
    conv(`${p}.conv1`, cout, cin, 3);
    lin(`${p}.time_emb_proj`, cout, ted);
    norm(`${p}.norm2`, cout);
    conv(`${p}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${p}.conv_shortcut`, cout, cin, 1);
  };
  const transformer = (p: string, C: number, b: number) => {
    norm(`${p}.norm`, C);
    const proj = (q: string) => (c.use_linear_projection ? lin(q, C, C) : conv(q, C, C, 1));
    proj(`${p}.proj_in`);
    for (let k = 0; k < blocks[b]!.transformerLayers; k++) {
      const t = `${p}.transformer_blocks.${k}`;
      for (const [a, kv] of [['attn1', C], ['attn2', blocks[b]!.crossAttentionDim]] as const) {
        lin(`${t}.${a}.to_q`, C, C, false);
        lin(`${t}.${a}.to_k`, C, kv, false);
        lin(`${t}.${a}.to_v`, C, kv, false);
        lin(`${t}.${a}.to_out.0`, C, C);
      }
      lin(`${t}.ff.net.0.proj`, 8 * C, C);
      lin(`${t}.ff.net.2`, C, 4 * C);
      for (const m of ['norm1', 'norm2', 'norm3']) norm(`${t}.${m}`, C);
    }
    proj(`${p}.proj_out`);
  };

  conv('conv_in', ch[0]!, c.in_channels, c.conv_in_kernel);
  lin('time_embedding.linear_1', ted, ch[0]!);
  lin('time_embedding.linear_2', ted, ted);
  c.down_block_types.forEach((type, i) => {
    const p = `down_blocks.${i}`;
    for (let j = 0; j < blocks[i]!.layers; j++) {
      resnet(`${p}.resnets.${j}`, j === 0 ? ch[Math.max(i - 1, 0)]! : ch[i]!, ch[i]!);
      if (type === 'CrossAttnDownBlock2D') transformer(`${p}.attentions.${j}`, ch[i]!, i);
    }
    if (i < n - 1) conv(`${p}.downsamplers.0.conv`, ch[i]!, ch[i]!, 3);
  });
  resnet('mid_block.resnets.0', ch[n - 1]!, ch[n - 1]!);
  transformer('mid_block.attentions.0', ch[n - 1]!, n - 1);
  resnet('mid_block.resnets.1', ch[n - 1]!, ch[n - 1]!);
  let prev = ch[n - 1]!;
  c.up_block_types.forEach((type, i) => {
    const d = n - 1 - i;
    const p = `up_blocks.${i}`;
    const layers = blocks[d]!.layers + 1;
    for (let j = 0; j < layers; j++) {
      const skip = j === layers - 1 ? ch[Math.max(d - 1, 0)]! : ch[d]!;
      resnet(`${p}.resnets.${j}`, (j === 0 ? prev : ch[d]!) + skip, ch[d]!);
      if (type === 'CrossAttnUpBlock2D') transformer(`${p}.attentions.${j}`, ch[d]!, d);
    }
    if (i < n - 1) conv(`${p}.upsamplers.0.conv`, ch[d]!, ch[d]!, 3);
    prev = ch[d]!;
  });
  norm('conv_norm_out', ch[0]!);
  conv('conv_out', c.out_channels, ch[0]!, c.conv_out_kernel);
  return out;
}

/** xorshift32 uniform values in [-1, 1): fast, seeded, distinct per tensor (ORT dedups equal weights). */
function uniform(n: number, state: { s: number }): Float32Array {
  const a = new Float32Array(n);
  let s = state.s;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    a[i] = (s >>> 0) / 2147483648 - 1;
  }
  state.s = s;
  return a;
}

/**
 * Writes `<dir>/unet/{config.json, diffusion_pytorch_model.safetensors}` with random weights
 * scaled like a default init (variance 1/fan_in), norms near 1/0, as F32 (default) or F16.
 * Each tensor is generated as it is written, so a full-size UNet never sits in memory whole.
 * Returns the parameter count.
 */
export function writeRandomUNet(
  dir: string, rawConfig: Record<string, unknown>, options: { seed?: number; extra?: WeightShapes; drop?: string[]; dtype?: 'F32' | 'F16' } = {},
): number {
  const config = unetConfigSchema.parse(rawConfig);
  const state = { s: options.seed ?? 12345 };
  const shapes = unetWeightShapes(config).filter(([name]) => !options.drop?.includes(name)).concat(options.extra ?? []);
  const dtype = options.dtype ?? 'F32';
  let params = 0;
  const tensors = shapes.map(([name, shape]): [string, TensorToWrite] => {
    const size = shape.reduce((a, b) => a * b, 1);
    params += size;
    const values = () => {
      const data = uniform(size, state);
      const isNorm = /norm[^.]*\.weight$/.test(name);
      const fanIn = shape.length > 1 ? size / shape[0]! : 0;
      const scale = shape.length > 1 ? Math.sqrt(3 / fanIn) : 0.1;
      for (let i = 0; i < size; i++) data[i] = (isNorm ? 1 : 0) + data[i]! * scale;
      return dtype === 'F16' ? toFloat16(data) : data;
    };
    return [name, { dtype, shape, data: values }];
  });
  mkdirSync(join(dir, 'unet'), { recursive: true });
  writeFileSync(join(dir, 'unet', 'config.json'), JSON.stringify({ _class_name: 'UNet2DConditionModel', ...rawConfig }, null, 2));
  writeSafetensors(join(dir, 'unet', 'diffusion_pytorch_model.safetensors'), tensors);
  return params;
}
