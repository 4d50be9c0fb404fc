// The edit parameters, one row each: the job schema, the panel's Advanced fields and the
// `tokenflow edit` options and help are all built from this table. Adding a parameter is one
// row here plus its use in the pipeline. Keys are the wire names (snake_case, like the reference
// TokenFlow config) and the names the pipeline reads.
import { z } from 'zod';

export interface ParameterSpec {
  readonly key: string;
  /** 'int': whole numbers only. */
  readonly type: 'int' | 'number';
  /** The reference implementation's default (omerbt/TokenFlow configs, preprocess.py). */
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly multipleOf?: number;
  /** The panel's field label. */
  readonly label: string;
  /** One line for the panel's hint and the CLI help. */
  readonly help: string;
  /** `tokenflow edit --<flag>`. */
  readonly flag: string;
  /** The panel input's step. */
  readonly step: number;
  /** The key in a reference TokenFlow settings file, where it differs from `key`. */
  readonly referenceKey?: string;
}

export const PARAMETERS = [
  {
    key: 'steps', type: 'int', default: 50, min: 1, max: 1000, label: 'Steps', flag: 'steps', step: 1, referenceKey: 'n_timesteps',
    help: 'Denoising steps. More is slower and slightly cleaner.',
  },
  {
    key: 'guidance_scale', type: 'number', default: 7.5, min: 0, max: 50, label: 'Guidance', flag: 'guidance', step: 0.5,
    help: 'How strongly the edit follows the prompt.',
  },
  {
    key: 'pnp_attn_t', type: 'number', default: 0.5, min: 0, max: 1, label: 'Attention injection', flag: 'pnp-attn-t', step: 0.05,
    help: 'Share of steps that keep the original’s layout (self-attention). Higher keeps more structure.',
  },
  {
    key: 'pnp_f_t', type: 'number', default: 0.8, min: 0, max: 1, label: 'Feature injection', flag: 'pnp-f-t', step: 0.05,
    help: 'Share of steps that keep the original’s features. Lower lets shapes change more.',
  },
  {
    key: 'batch_size', type: 'int', default: 8, min: 1, max: 64, label: 'Batch size', flag: 'batch-size', step: 1,
    help: 'Frames per batch, one keyframe each. Larger needs more memory.',
  },
  {
    key: 'seed', type: 'int', default: 1, min: 0, max: 4_294_967_295, label: 'Seed', flag: 'seed', step: 1,
    help: 'Same seed and settings give the same result.',
  },
  {
    key: 'short_side', type: 'int', default: 512, min: 64, max: 2048, multipleOf: 8, label: 'Resolution', flag: 'short-side', step: 8,
    help: 'Short side in pixels while editing; the render is scaled back to the clip’s size.',
  },
  {
    // The reference saves 50 of its 500 inversion steps; the saved ones must contain the edit timesteps.
    key: 'inversion_steps', type: 'int', default: 500, min: 1, max: 999, label: 'Inversion steps', flag: 'inversion-steps', step: 1, referenceKey: 'n_inversion_steps',
    help: 'DDIM inversion of the original; cached, so a new prompt on the same clip skips it.',
  },
] as const satisfies readonly ParameterSpec[];

/** One row of the table. */
export type Parameter = (typeof PARAMETERS)[number];
export type ParameterKey = Parameter['key'];

/** The rule a value must meet, as the error messages and the CLI help say it. */
export function parameterRange(spec: ParameterSpec): string {
  return `${spec.type === 'int' ? 'a whole number' : 'a number'} from ${spec.min} to ${spec.max}`;
}

function fieldSchema(spec: ParameterSpec): z.ZodNumber {
  const msg = `${spec.key} must be ${parameterRange(spec)}`;
  let schema = z.number({ error: msg });
  if (spec.type === 'int') schema = schema.int({ error: msg });
  schema = schema.min(spec.min, { error: msg }).max(spec.max, { error: msg });
  if (spec.multipleOf !== undefined) {
    schema = schema.multipleOf(spec.multipleOf, { error: `${spec.key} must be a multiple of ${spec.multipleOf} from ${spec.min} to ${spec.max}` });
  }
  return schema;
}

function byKey<T>(value: (spec: ParameterSpec) => T): { [K in ParameterKey]: T } {
  return Object.fromEntries(PARAMETERS.map((spec) => [spec.key, value(spec)])) as { [K in ParameterKey]: T };
}

/** The reference defaults of every parameter. */
export const REFERENCE_PARAMETERS: Readonly<{ [K in ParameterKey]: number }> = Object.freeze(byKey((spec) => spec.default));

/** Every parameter, with the reference defaults filled in. */
export const JobParameters = z.strictObject(byKey((spec) => fieldSchema(spec).default(spec.default)));
export type JobParameters = z.infer<typeof JobParameters>;

/**
 * Parameters as a request or preset gives them: only what it sets. Kept partial so that a
 * preset's value applies unless the request sets that parameter itself (see resolveJobSettings).
 */
export const JobParameterOverrides = z.strictObject(byKey(fieldSchema)).partial();
export type JobParameterOverrides = z.infer<typeof JobParameterOverrides>;
