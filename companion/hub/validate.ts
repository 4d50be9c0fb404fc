// Checking a diffusers Stable Diffusion folder before the runtime loads it, so that a broken
// download or a wrong folder fails in a second with a message naming the file, field or weight,
// instead of minutes later inside a graph build. Checks: model_index.json names a Stable
// Diffusion pipeline; every component's config parses with the schema the runtime reads it with
// (models/config.ts, models/ddim.ts), so both accept the same configs; the weights' safetensors
// headers are sound (offsets inside the file: a truncated download is caught); key weight shapes
// agree with the configs and the components agree with each other; optionally, file contents
// against the hashes the Hugging Face cache names its blobs after.
import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import type { TensorInfo } from '../runtime/safetensors.ts';
import { SafetensorsFile } from '../runtime/safetensors.ts';
import {
  clipTextConfigSchema, readConfigFile, unetConfigSchema, vaeConfigSchema, type ClipTextConfig, type UNetConfig, type VaeConfig,
} from '../models/config.ts';
import { ddimConfigSchema } from '../models/ddim.ts';
import { hashFile, hashKindOf } from './file_hash.ts';
import { componentWeightFiles, OPTIONAL_FILES, REQUIRED_FILES, WEIGHT_COMPONENTS, type WeightComponent } from '../models/diffusers_layout.ts';

export type WeightPrecision = 'fp16' | 'fp32' | 'bf16' | 'mixed';

export interface ModelReport {
  dir: string;
  ok: boolean;
  /** One line per problem, naming the file (relative to `dir`), field or weight. */
  problems: string[];
  pipelineClass?: string;
  /** Precision of the weights the runtime will load. */
  precision?: WeightPrecision;
  /** Bytes of the files the pipeline uses. */
  sizeBytes: number;
  /** With `hashes`: files whose contents were checked, and files with no known hash. */
  hashes?: { checked: number; unchecked: string[] };
}

export interface InspectOptions {
  /** Re-hash every file against its cache blob name (or `publishedHashes`). Slow for big models. */
  hashes?: boolean;
  /** Hashes by repo path (e.g. from the hub listing) for files that are not cache symlinks. */
  publishedHashes?: ReadonlyMap<string, string>;
}

export class ModelValidationError extends Error {
  constructor(readonly report: ModelReport, hint?: string) {
    super(`model folder ${report.dir} is not usable:\n${report.problems.map((p) => `  - ${p}`).join('\n')}${hint ? `\n${hint}` : ''}`);
    this.name = 'ModelValidationError';
  }
}

const SUPPORTED_PIPELINES = new Set(['StableDiffusionPipeline', 'StableDiffusionImg2ImgPipeline']);
const COMPONENT_CLASSES: Record<string, RegExp | undefined> = {
  unet: /^UNet2DConditionModel$/,
  vae: /^AutoencoderKL$/,
  text_encoder: /^CLIPTextModel$/,
  tokenizer: /^CLIPTokenizer(Fast)?$/,
  scheduler: undefined,
};

/** Collects problems with paths shown relative to the model folder. */
class Checker {
  readonly problems: string[] = [];

  constructor(readonly dir: string) {}

  problem(text: string): void {
    this.problems.push(text.split(this.dir + path.sep).join(''));
  }

  exists(rel: string): boolean {
    try {
      return statSync(path.join(this.dir, rel)).isFile();
    } catch {
      return false;
    }
  }

  json(rel: string): Record<string, unknown> | undefined {
    let text: string;
    try {
      text = readFileSync(path.join(this.dir, rel), 'utf8');
    } catch {
      this.problem(`${rel}: missing`);
      return undefined;
    }
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
      this.problem(`${rel}: not a JSON object`);
    } catch (err) {
      this.problem(`${rel}: not valid JSON (${(err as Error).message})`);
    }
    return undefined;
  }

  /** The config file `rel` parsed by the schema the runtime reads it with. */
  config<S extends z.ZodTypeAny>(rel: string, schema: S): z.infer<S> | undefined {
    try {
      return readConfigFile(path.join(this.dir, rel), schema);
    } catch (err) {
      this.problem((err as Error).message);
      return undefined;
    }
  }
}

export async function inspectModel(modelDir: string, opts: InspectOptions = {}): Promise<ModelReport> {
  const dir = path.resolve(modelDir);
  const c = new Checker(dir);
  const pipelineClass = checkModelIndex(c);
  const unet = c.config('unet/config.json', unetConfigSchema);
  const vae = c.config('vae/config.json', vaeConfigSchema);
  const text = c.config('text_encoder/config.json', clipTextConfigSchema);
  c.config('scheduler/scheduler_config.json', ddimConfigSchema);
  checkTokenizer(c, text);
  if (unet) checkUnetConfig(c, unet, vae, text);

  const usedFiles = new Set<string>([...REQUIRED_FILES, ...OPTIONAL_FILES].filter((f) => c.exists(f)));
  const dtypes = new Set<string>();
  for (const component of WEIGHT_COMPONENTS) {
    for (const [i, files] of weightFileSets(c, component).entries()) {
      for (const f of files) usedFiles.add(path.relative(dir, f).split(path.sep).join('/'));
      const tensors = openWeights(c, files);
      if (!tensors) continue;
      // The first set is what the runtime loads; its dtype is the model's precision.
      if (i === 0) for (const t of tensors.values()) if (t.dtype === 'F16' || t.dtype === 'F32' || t.dtype === 'BF16') dtypes.add(t.dtype);
      const label = `${component} (${path.basename(files[0]!)})`;
      if (component === 'unet' && unet) checkUnetWeights(c, label, tensors, unet);
      if (component === 'vae' && vae) checkVaeWeights(c, label, tensors, vae);
      if (component === 'text_encoder' && text) checkTextWeights(c, label, tensors, text);
    }
  }

  const report: ModelReport = {
    dir,
    ok: false,
    problems: c.problems,
    pipelineClass,
    precision: precisionOf(dtypes),
    sizeBytes: totalSize(dir, usedFiles),
  };
  if (opts.hashes) report.hashes = await checkHashes(c, [...usedFiles].sort(), opts.publishedHashes);
  report.ok = c.problems.length === 0;
  return report;
}

/** inspectModel, throwing a ModelValidationError that lists every problem. */
export async function validateModel(modelDir: string, opts: InspectOptions & { hint?: string } = {}): Promise<ModelReport> {
  const report = await inspectModel(modelDir, opts);
  if (!report.ok) throw new ModelValidationError(report, opts.hint);
  return report;
}

/** What is wrong with a model_index.json's pipeline class for us, if anything. */
export function pipelineClassProblem(index: unknown): string | undefined {
  const cls = (index as { _class_name?: unknown } | null)?._class_name;
  if (typeof cls !== 'string') return 'model_index.json: no "_class_name"';
  if (/XL/.test(cls)) return `model_index.json: ${cls} is Stable Diffusion XL, which is not supported (use a Stable Diffusion 1.x or 2.x pipeline)`;
  if (!SUPPORTED_PIPELINES.has(cls)) return `model_index.json: pipeline class ${cls} is not a StableDiffusionPipeline`;
  return undefined;
}

function checkModelIndex(c: Checker): string | undefined {
  const index = c.json('model_index.json');
  if (!index) return undefined;
  const cls = index._class_name;
  const classProblem = pipelineClassProblem(index);
  if (classProblem) c.problem(classProblem);
  for (const [component, expected] of Object.entries(COMPONENT_CLASSES)) {
    const entry = index[component];
    const componentClass = Array.isArray(entry) ? entry[1] : undefined;
    if (typeof componentClass !== 'string') c.problem(`model_index.json: no "${component}" component`);
    else if (expected && !expected.test(componentClass)) c.problem(`model_index.json: ${component} is a ${componentClass}, expected ${expected.source.replace(/[\^$]/g, '')}`);
  }
  return typeof cls === 'string' ? cls : undefined;
}

function checkTokenizer(c: Checker, text: ClipTextConfig | undefined): void {
  const vocab = c.json('tokenizer/vocab.json');
  if (vocab && text) {
    let maxId = -1;
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id > maxId) maxId = id;
    if (maxId < 0) c.problem('tokenizer/vocab.json: no token ids');
    else if (maxId >= text.vocab_size) c.problem(`tokenizer/vocab.json: token id ${maxId} does not fit text_encoder vocab_size ${text.vocab_size}`);
  }
  if (!c.exists('tokenizer/merges.txt')) c.problem('tokenizer/merges.txt: missing');
  else if (statSync(path.join(c.dir, 'tokenizer/merges.txt')).size === 0) c.problem('tokenizer/merges.txt: empty');
}

/** What the UNet config must agree on with the other components (its own block counts are the schema's). */
function checkUnetConfig(c: Checker, unet: UNetConfig, vae: VaeConfig | undefined, text: ClipTextConfig | undefined): void {
  if (text && typeof unet.cross_attention_dim === 'number' && unet.cross_attention_dim !== text.hidden_size) {
    c.problem(`unet/config.json: cross_attention_dim ${unet.cross_attention_dim} does not match text_encoder/config.json hidden_size ${text.hidden_size} (components of different models, e.g. SD 1.x and 2.x?)`);
  }
  if (vae && (unet.in_channels !== vae.latent_channels || unet.out_channels !== vae.latent_channels)) {
    c.problem(`unet/config.json: in_channels ${unet.in_channels} / out_channels ${unet.out_channels} do not match vae/config.json latent_channels ${vae.latent_channels} (an inpainting or depth model? those are not supported)`);
  }
}

/** The weight files of a component: what the runtime loads first, then an fp16 variant if separate. */
function weightFileSets(c: Checker, component: WeightComponent): string[][] {
  let primary: string[];
  try {
    primary = componentWeightFiles(c.dir, component);
  } catch (err) {
    c.problem((err as Error).message);
    return [];
  }
  let fp16: string[];
  try {
    fp16 = componentWeightFiles(c.dir, component, 'fp16');
  } catch (err) {
    c.problem((err as Error).message);
    return [primary];
  }
  return fp16.join('\n') === primary.join('\n') ? [primary] : [primary, fp16];
}

function openWeights(c: Checker, files: string[]): Map<string, TensorInfo> | undefined {
  const tensors = new Map<string, TensorInfo>();
  let ok = true;
  for (const f of files) {
    try {
      for (const [name, info] of SafetensorsFile.open(f).tensors) tensors.set(name, info);
    } catch (err) {
      c.problem((err as Error).message);
      ok = false;
    }
  }
  return ok ? tensors : undefined;
}

function expectShape(c: Checker, label: string, tensors: Map<string, TensorInfo>, name: string, shape: number[], because: string): void {
  const t = tensors.get(name);
  if (!t) c.problem(`${label}: weight "${name}" is missing`);
  else if (t.shape.join(',') !== shape.join(',')) {
    c.problem(`${label}: weight "${name}" has shape [${t.shape.join(', ')}], the config (${because}) needs [${shape.join(', ')}]`);
  }
}

function checkUnetWeights(c: Checker, label: string, tensors: Map<string, TensorInfo>, unet: UNetConfig): void {
  const ch = unet.block_out_channels[0];
  expectShape(c, label, tensors, 'conv_in.weight', [ch, unet.in_channels, unet.conv_in_kernel, unet.conv_in_kernel],
    `block_out_channels[0]=${ch}, in_channels=${unet.in_channels}, conv_in_kernel=${unet.conv_in_kernel}`);
  expectShape(c, label, tensors, 'conv_out.weight', [unet.out_channels, ch, unet.conv_out_kernel, unet.conv_out_kernel],
    `out_channels=${unet.out_channels}, block_out_channels[0]=${ch}, conv_out_kernel=${unet.conv_out_kernel}`);
  const crossKeys = [...tensors.values()].filter((t) => t.name.endsWith('.attn2.to_k.weight'));
  if (crossKeys.length === 0) c.problem(`${label}: no cross-attention weights (*.attn2.to_k.weight): not a text-conditioned UNet`);
  if (typeof unet.cross_attention_dim === 'number') {
    for (const t of crossKeys) {
      if (t.shape.length !== 2 || t.shape[1] !== unet.cross_attention_dim) {
        c.problem(`${label}: weight "${t.name}" has shape [${t.shape.join(', ')}], the config (cross_attention_dim=${unet.cross_attention_dim}) needs [*, ${unet.cross_attention_dim}]`);
        break;
      }
    }
  }
}

function checkVaeWeights(c: Checker, label: string, tensors: Map<string, TensorInfo>, vae: VaeConfig): void {
  const first = vae.block_out_channels[0];
  const last = vae.block_out_channels[vae.block_out_channels.length - 1]!;
  const z = vae.latent_channels;
  const cfg = `block_out_channels=[${vae.block_out_channels.join(', ')}], latent_channels=${z}`;
  expectShape(c, label, tensors, 'encoder.conv_in.weight', [first, vae.in_channels, 3, 3], `${cfg}, in_channels=${vae.in_channels}`);
  expectShape(c, label, tensors, 'encoder.conv_out.weight', [2 * z, last, 3, 3], cfg);
  expectShape(c, label, tensors, 'quant_conv.weight', [2 * z, 2 * z, 1, 1], cfg);
  expectShape(c, label, tensors, 'post_quant_conv.weight', [z, z, 1, 1], cfg);
  expectShape(c, label, tensors, 'decoder.conv_in.weight', [last, z, 3, 3], cfg);
  expectShape(c, label, tensors, 'decoder.conv_out.weight', [vae.out_channels, first, 3, 3], `${cfg}, out_channels=${vae.out_channels}`);
}

function checkTextWeights(c: Checker, label: string, tensors: Map<string, TensorInfo>, text: ClipTextConfig): void {
  const h = text.hidden_size;
  const last = text.num_hidden_layers - 1;
  expectShape(c, label, tensors, 'text_model.embeddings.token_embedding.weight', [text.vocab_size, h], `vocab_size=${text.vocab_size}, hidden_size=${h}`);
  expectShape(c, label, tensors, 'text_model.embeddings.position_embedding.weight', [text.max_position_embeddings, h], `max_position_embeddings=${text.max_position_embeddings}, hidden_size=${h}`);
  expectShape(c, label, tensors, `text_model.encoder.layers.${last}.self_attn.q_proj.weight`, [h, h], `num_hidden_layers=${text.num_hidden_layers}, hidden_size=${h}`);
  expectShape(c, label, tensors, `text_model.encoder.layers.${last}.mlp.fc1.weight`, [text.intermediate_size, h], `intermediate_size=${text.intermediate_size}, hidden_size=${h}`);
  expectShape(c, label, tensors, 'text_model.final_layer_norm.weight', [h], `hidden_size=${h}`);
}

function precisionOf(dtypes: Set<string>): WeightPrecision | undefined {
  if (dtypes.size === 0) return undefined;
  if (dtypes.size > 1) return 'mixed';
  return ({ F16: 'fp16', F32: 'fp32', BF16: 'bf16' } as const)[[...dtypes][0] as 'F16' | 'F32' | 'BF16'];
}

function totalSize(dir: string, files: Set<string>): number {
  let total = 0;
  for (const f of files) {
    try {
      total += statSync(path.join(dir, f)).size;
    } catch {
      // Missing files are reported as problems already.
    }
  }
  return total;
}

/**
 * Re-hashes each file: a cache snapshot file links to `blobs/<hash>`, whose name is the hash
 * the hub published (sha256 for LFS files, git sha1 for others); files that are copies (Windows)
 * use `published` instead; others cannot be checked.
 */
async function checkHashes(c: Checker, files: string[], published?: ReadonlyMap<string, string>) {
  let checked = 0;
  const unchecked: string[] = [];
  for (const rel of files) {
    const full = path.join(c.dir, rel);
    let expected: string | undefined;
    try {
      if (lstatSync(full).isSymbolicLink()) expected = path.basename(readlinkSync(full));
    } catch {
      continue;
    }
    if (!expected || !hashKindOf(expected)) expected = published?.get(rel);
    const kind = expected ? hashKindOf(expected) : undefined;
    if (!expected || !kind) {
      unchecked.push(rel);
      continue;
    }
    const actual = await hashFile(kind, full, statSync(full).size);
    checked++;
    if (actual !== expected) {
      c.problem(`${rel}: contents have ${kind} ${actual}, the published hash is ${expected} (corrupt file: delete it and pull the model again)`);
    }
  }
  return { checked, unchecked };
}
