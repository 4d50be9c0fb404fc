// zod schemas for the components' config.json files. Field names are diffusers' /
// transformers' own, verbatim, so a config can be compared with its source by eye.
// Unknown fields are allowed (configs carry many we do not use), missing ones get the
// library defaults.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const clipTextConfigSchema = z.object({
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive().default(77),
  vocab_size: z.number().int().positive(),
  hidden_act: z.enum(['quick_gelu', 'gelu']).default('quick_gelu'),
  layer_norm_eps: z.number().positive().default(1e-5),
});
export type ClipTextConfig = z.infer<typeof clipTextConfigSchema>;

/** Reads and validates `<modelDir>/<component>/config.json`, naming the file on failure. */
export function readConfig<S extends z.ZodTypeAny>(modelDir: string, component: string, schema: S): z.infer<S> {
  return readConfigFile(join(modelDir, component, 'config.json'), schema);
}

/** Reads and validates a JSON config file against its schema, naming the file and field on failure. */
export function readConfigFile<S extends z.ZodTypeAny>(file: string, schema: S): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `not valid JSON (${(err as Error).message})`}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: field "${issue.path.join('.')}": ${issue.message}`);
  }
  return parsed.data;
}

/**
 * diffusers AutoencoderKL. Only the SD-family layout is supported: DownEncoderBlock2D /
 * UpDecoderBlock2D blocks, SiLU, GroupNorm. `scaling_factor` maps posterior means to the
 * UNet's latent scale (the pipeline multiplies by it after encoding, divides before decoding).
 */
export const vaeConfigSchema = z.object({
  in_channels: z.number().int().positive().default(3),
  out_channels: z.number().int().positive().default(3),
  down_block_types: z.array(z.literal('DownEncoderBlock2D')).min(1).default(['DownEncoderBlock2D']),
  up_block_types: z.array(z.literal('UpDecoderBlock2D')).min(1).default(['UpDecoderBlock2D']),
  block_out_channels: z.array(z.number().int().positive()).min(1).default([64]),
  layers_per_block: z.number().int().positive().default(1),
  act_fn: z.literal('silu').default('silu'),
  latent_channels: z.number().int().positive().default(4),
  norm_num_groups: z.number().int().positive().default(32),
  scaling_factor: z.number().positive().default(0.18215),
  mid_block_add_attention: z.boolean().default(true),
  use_quant_conv: z.boolean().default(true),
  use_post_quant_conv: z.boolean().default(true),
}).superRefine((c, ctx) => {
  const n = c.block_out_channels.length;
  for (const key of ['down_block_types', 'up_block_types'] as const) {
    if (c[key].length !== n) {
      ctx.addIssue({ code: 'custom', path: [key], message: `has ${c[key].length} entries, block_out_channels has ${n}` });
    }
  }
  c.block_out_channels.forEach((ch, i) => {
    if (ch % c.norm_num_groups !== 0) {
      ctx.addIssue({ code: 'custom', path: ['block_out_channels', i], message: `${ch} channels are not divisible by norm_num_groups ${c.norm_num_groups}` });
    }
  });
});
export type VaeConfig = z.infer<typeof vaeConfigSchema>;

const positiveInt = z.number().int().positive();
const intPerBlock = z.union([positiveInt, z.array(positiveInt)]);

/**
 * diffusers UNet2DConditionModel (0.27), the SD 1.x / 2.x subset: CrossAttnDownBlock2D /
 * DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D, positional timestep
 * embedding, no class / addition embeddings. Per-block fields may be an int or a list with one
 * entry per down block. See `unetBlockSettings` for how they are read.
 */
export const unetConfigSchema = z.object({
  in_channels: positiveInt.default(4),
  out_channels: positiveInt.default(4),
  center_input_sample: z.boolean().default(false),
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
  down_block_types: z.array(z.enum(['CrossAttnDownBlock2D', 'DownBlock2D'])).min(1)
    .default(['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']),
  mid_block_type: z.literal('UNetMidBlock2DCrossAttn').default('UNetMidBlock2DCrossAttn'),
  up_block_types: z.array(z.enum(['UpBlock2D', 'CrossAttnUpBlock2D'])).min(1)
    .default(['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']),
  only_cross_attention: z.union([z.literal(false), z.array(z.literal(false))], { message: 'only_cross_attention=true is not supported' }).default(false),
  block_out_channels: z.array(positiveInt).min(1).default([320, 640, 1280, 1280]),
  layers_per_block: intPerBlock.default(2),
  downsample_padding: z.number().int().min(0).max(1).default(1),
  mid_block_scale_factor: z.number().positive().default(1),
  act_fn: z.literal('silu').default('silu'),
  norm_num_groups: positiveInt.default(32),
  norm_eps: z.number().positive().default(1e-5),
  cross_attention_dim: intPerBlock.default(1280),
  transformer_layers_per_block: intPerBlock.default(1),
  reverse_transformer_layers_per_block: z.null({ message: 'reverse_transformer_layers_per_block is not supported' }).optional(),
  /** Historically misnamed: in UNet2DConditionModel this is the number of heads (see unetBlockSettings). */
  attention_head_dim: intPerBlock.default(8),
  num_attention_heads: intPerBlock.nullable().optional(),
  dual_cross_attention: z.literal(false, { message: 'dual_cross_attention is not supported' }).default(false),
  use_linear_projection: z.boolean().default(false),
  /** Computes attention in float32 in float16 graphs (the GPU providers'); float32 graphs are unchanged. */
  upcast_attention: z.boolean().nullable().default(false),
  resnet_time_scale_shift: z.literal('default', { message: 'only resnet_time_scale_shift="default" is supported' }).default('default'),
  resnet_skip_time_act: z.literal(false, { message: 'resnet_skip_time_act is not supported' }).default(false),
  time_embedding_type: z.literal('positional', { message: 'only time_embedding_type="positional" is supported' }).default('positional'),
  time_embedding_dim: positiveInt.nullable().default(null),
  time_embedding_act_fn: z.null({ message: 'time_embedding_act_fn is not supported' }).optional(),
  timestep_post_act: z.null({ message: 'timestep_post_act is not supported' }).optional(),
  time_cond_proj_dim: z.null({ message: 'time_cond_proj_dim is not supported' }).optional(),
  conv_in_kernel: z.number().int().positive().refine((k) => k % 2 === 1, 'must be odd').default(3),
  conv_out_kernel: z.number().int().positive().refine((k) => k % 2 === 1, 'must be odd').default(3),
  class_embed_type: z.null({ message: 'class embeddings are not supported' }).optional(),
  num_class_embeds: z.null({ message: 'class embeddings are not supported' }).optional(),
  addition_embed_type: z.null({ message: 'addition embeddings (SDXL-style) are not supported' }).optional(),
  encoder_hid_dim: z.null({ message: 'encoder_hid_dim is not supported' }).optional(),
  encoder_hid_dim_type: z.null({ message: 'encoder_hid_dim_type is not supported' }).optional(),
  attention_type: z.literal('default', { message: 'only attention_type="default" is supported' }).default('default'),
  class_embeddings_concat: z.literal(false, { message: 'class_embeddings_concat is not supported' }).default(false),
  cross_attention_norm: z.null({ message: 'cross_attention_norm is not supported' }).optional(),
  sample_size: positiveInt.nullable().optional(),
}).superRefine((c, ctx) => {
  const n = c.down_block_types.length;
  if (c.up_block_types.length !== n) ctx.addIssue({ code: 'custom', path: ['up_block_types'], message: `has ${c.up_block_types.length} entries, down_block_types has ${n}` });
  if (c.block_out_channels.length !== n) ctx.addIssue({ code: 'custom', path: ['block_out_channels'], message: `has ${c.block_out_channels.length} entries, down_block_types has ${n}` });
  for (const key of ['layers_per_block', 'cross_attention_dim', 'transformer_layers_per_block', 'attention_head_dim', 'num_attention_heads'] as const) {
    const v = c[key];
    if (Array.isArray(v) && v.length !== n) ctx.addIssue({ code: 'custom', path: [key], message: `has ${v.length} entries, down_block_types has ${n}` });
  }
  c.block_out_channels.forEach((ch, i) => {
    if (ch % c.norm_num_groups !== 0) ctx.addIssue({ code: 'custom', path: ['block_out_channels', i], message: `${ch} channels are not divisible by norm_num_groups ${c.norm_num_groups}` });
  });
});
export type UNetConfig = z.infer<typeof unetConfigSchema>;

/** What one down block (and its mirrored up block) is built with. */
export interface UNetBlockSettings {
  layers: number;
  /** Attention heads of its Transformer2DModels; head size = channels / heads. */
  heads: number;
  crossAttentionDim: number;
  transformerLayers: number;
}

/**
 * Per-down-block settings, index i = down_blocks.i (up_blocks.i uses entry n-1-i, the mid
 * block the last one). This is the one place that reads `attention_head_dim`: diffusers
 * (unet_2d_condition.py, "num_attention_heads = num_attention_heads or attention_head_dim")
 * treats it as the NUMBER of heads, a naming mistake kept for compatibility; an explicit
 * `num_attention_heads` wins when present.
 */
export function unetBlockSettings(c: UNetConfig): UNetBlockSettings[] {
  const perBlock = (v: number | number[], i: number) => (Array.isArray(v) ? v[i]! : v);
  return c.block_out_channels.map((channels, i) => {
    const heads = perBlock(c.num_attention_heads ?? c.attention_head_dim, i);
    if (channels % heads !== 0) {
      throw new Error(`unet config: down_blocks.${i} has ${channels} channels, not divisible by ${heads} attention heads`);
    }
    return {
      layers: perBlock(c.layers_per_block, i),
      heads,
      crossAttentionDim: perBlock(c.cross_attention_dim, i),
      transformerLayers: perBlock(c.transformer_layers_per_block, i),
    };
  });
}
