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
