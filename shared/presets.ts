// Presets: named looks the panel offers next to the prompt. A preset's prompt is a template
// whose `{prompt}` is replaced by the job's prompt, so "a dog on a beach" with "watercolor"
// becomes "a watercolor painting of a dog on a beach, ...".
import { z } from 'zod';
import {
  DEFAULT_NEGATIVE_PROMPT,
  DEFAULT_SOURCE_PROMPT,
  normalizeRange,
  PresetName,
  type JobRequest,
  type JobSettings,
} from './jobs.ts';
import { JobParameterOverrides, JobParameters } from './parameters.ts';

export const PROMPT_PLACEHOLDER = '{prompt}';

export const PresetCategory = z.enum(['style', 'material', 'season', 'time_of_day', 'custom']);
export type PresetCategory = z.infer<typeof PresetCategory>;

const PresetTemplate = z
  .string()
  .max(2000, { error: 'preset prompt is longer than 2000 characters' })
  .refine((p) => p.split(PROMPT_PLACEHOLDER).length === 2, {
    error: `preset prompt must contain "${PROMPT_PLACEHOLDER}" exactly once (where the job's prompt goes)`,
  });

const presetFields = {
  description: z.string().max(500, { error: 'description is longer than 500 characters' }),
  category: PresetCategory.default('custom'),
  prompt: PresetTemplate,
  negative_prompt: z.string().max(2000, { error: 'negative_prompt is longer than 2000 characters' }).optional(),
  parameters: JobParameterOverrides.optional(),
};

/** Body of `PUT /v1/presets/:name` (the name comes from the path). */
export const PresetBody = z.strictObject(presetFields);
export type PresetBody = z.infer<typeof PresetBody>;
export type PresetBodyInput = z.input<typeof PresetBody>;

/** A preset as listed by `GET /v1/presets`. Built-in presets cannot be replaced or deleted. */
export const Preset = z.strictObject({ name: PresetName, ...presetFields, builtin: z.boolean() });
export type Preset = z.infer<typeof Preset>;

export const PresetListResponse = z.strictObject({ presets: z.array(Preset) });
export type PresetListResponse = z.infer<typeof PresetListResponse>;

function builtin(name: string, category: PresetCategory, description: string, prompt: string, negative?: string): Preset {
  return Preset.parse({
    name,
    category,
    description,
    prompt,
    ...(negative === undefined ? {} : { negative_prompt: `${negative}, ${DEFAULT_NEGATIVE_PROMPT}` }),
    builtin: true,
  });
}

export const BUILTIN_PRESETS: readonly Preset[] = Object.freeze([
  builtin('watercolor', 'style', 'Soft watercolour painting on paper',
    'a watercolor painting of {prompt}, soft washes, visible paper texture', 'photo, photorealistic'),
  builtin('oil-painting', 'style', 'Thick impasto oil painting',
    'an oil painting of {prompt}, thick impasto brush strokes, rich colors', 'photo, photorealistic'),
  builtin('anime', 'style', 'Clean cel-shaded anime look',
    'an anime illustration of {prompt}, cel shading, clean line art', 'photo, photorealistic, 3d render'),
  builtin('pencil-sketch', 'style', 'Graphite pencil drawing',
    'a detailed graphite pencil sketch of {prompt}, cross-hatching, white paper', 'color, photo'),
  builtin('marble-statue', 'material', 'Everything carved from white marble',
    'a white marble sculpture of {prompt}, polished stone, museum lighting', 'color, skin'),
  builtin('bronze-statue', 'material', 'Cast bronze with patina',
    'a bronze statue of {prompt}, metallic sheen, green patina', 'skin, fabric'),
  builtin('claymation', 'material', 'Stop-motion plasticine',
    'a claymation scene of {prompt}, plasticine, stop motion, fingerprints in clay'),
  builtin('winter', 'season', 'Snow-covered winter day',
    '{prompt}, in winter, covered in fresh snow, falling snowflakes, cold light', 'green leaves, summer'),
  builtin('autumn', 'season', 'Orange and red autumn foliage',
    '{prompt}, in autumn, orange and red leaves, warm soft light', 'snow'),
  builtin('golden-hour', 'time_of_day', 'Low warm sun just before sunset',
    '{prompt}, at golden hour, warm low sunlight, long soft shadows'),
  builtin('night', 'time_of_day', 'Moonlit night with artificial lights',
    '{prompt}, at night, moonlight, street lights, dark blue sky', 'daylight, sun'),
  builtin('neon-cyberpunk', 'style', 'Rain-soaked neon city look',
    '{prompt}, cyberpunk style, neon lights, rain, reflections, magenta and cyan', 'daylight'),
]);

/** What a preset sets besides its prompt template: its negative prompt, and its parameters over the reference defaults. */
export function presetDefaults(preset: Preset | undefined): { negative_prompt: string; parameters: JobParameters } {
  return { negative_prompt: preset?.negative_prompt ?? DEFAULT_NEGATIVE_PROMPT, parameters: JobParameters.parse({ ...preset?.parameters }) };
}

/**
 * The settings a job runs with: the request's own values first, then the preset's, then the
 * reference defaults. `preset` must be the preset the request names (or undefined if none);
 * `defaultModel` (an id or absolute folder) is recorded as the model of a request that names none.
 * The one place a preset is applied to a job (the panel only shows presetDefaults on its form).
 */
export function resolveJobSettings(request: JobRequest, preset: Preset | undefined, defaultModel?: string): JobSettings {
  if ((request.preset ?? undefined) !== preset?.name) {
    throw new Error(`resolveJobSettings: request names preset "${request.preset}" but got "${preset?.name}"`);
  }
  const prompt = preset ? preset.prompt.replace(PROMPT_PLACEHOLDER, request.prompt) : request.prompt;
  const defaults = presetDefaults(preset);
  return {
    prompt,
    negative_prompt: request.negative_prompt ?? defaults.negative_prompt,
    source_prompt: request.source_prompt ?? DEFAULT_SOURCE_PROMPT,
    parameters: { ...defaults.parameters, ...request.parameters },
    preset: preset?.name ?? null,
    model: request.model ?? defaultModel ?? null,
    ...normalizeRange(request.range),
  };
}
