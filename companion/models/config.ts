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
  const file = join(modelDir, component, 'config.json');
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
