// Random-weight CLIPTextModel checkpoints in the transformers layout (for bench/gpu.ts, which
// builds a full-size SD 1.5 architecture without downloading one).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clipTextConfigSchema } from '../../companion/models/config.ts';
import { toFloat16, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';
import { randomArray } from './random_vae.ts';

/** Names and shapes of a CLIPTextModel state dict (text_model.*). */
export function clipTextWeightShapes(raw: Record<string, unknown>): [string, number[]][] {
  const c = clipTextConfigSchema.parse(raw);
  const D = c.hidden_size;
  const out: [string, number[]][] = [
    ['text_model.embeddings.token_embedding.weight', [c.vocab_size, D]],
    ['text_model.embeddings.position_embedding.weight', [c.max_position_embeddings, D]],
  ];
  const lin = (p: string, cout: number, cin: number) => out.push([`${p}.weight`, [cout, cin]], [`${p}.bias`, [cout]]);
  const norm = (p: string) => out.push([`${p}.weight`, [D]], [`${p}.bias`, [D]]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(`${p}.self_attn.${proj}`, D, D);
    norm(`${p}.layer_norm1`);
    lin(`${p}.mlp.fc1`, c.intermediate_size, D);
    lin(`${p}.mlp.fc2`, D, c.intermediate_size);
    norm(`${p}.layer_norm2`);
  }
  norm('text_model.final_layer_norm');
  return out;
}

/**
 * Writes `<dir>/text_encoder/{config.json, model.safetensors}` with random weights (variance
 * ~1/fan_in, norm scales near 1), as F32 or F16, each tensor generated as it is written.
 * Returns the parameter count.
 */
export function writeRandomTextEncoder(dir: string, config: Record<string, unknown>, dtype: 'F32' | 'F16' = 'F32'): number {
  mkdirSync(join(dir, 'text_encoder'), { recursive: true });
  writeFileSync(join(dir, 'text_encoder', 'config.json'), JSON.stringify({ architectures: ['CLIPTextModel'], model_type: 'clip_text_model', ...config }, null, 2));
  let seed = 1;
  let params = 0;
  const tensors = clipTextWeightShapes(config).map(([name, shape]): [string, TensorToWrite] => {
    const n = shape.reduce((a, b) => a * b, 1);
    params += n;
    const s = seed++;
    const values = () => {
      const isNormScale = /norm[^.]*\.weight$/.test(name);
      const fanIn = shape.length > 1 && !name.includes('embedding') ? n / shape[0]! : 1;
      const data = randomArray(n, s, isNormScale ? 0.1 : 1 / Math.sqrt(fanIn));
      if (isNormScale) for (let i = 0; i < n; i++) data[i]! += 1;
      return dtype === 'F16' ? toFloat16(data) : data;
    };
    return [name, { dtype, shape, data: values }];
  });
  writeSafetensors(join(dir, 'text_encoder', 'model.safetensors'), tensors);
  return params;
}
