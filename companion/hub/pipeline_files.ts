// Which files of a diffusers Stable Diffusion repository a pull fetches. Repos carry far
// more (PyTorch .bin and .ckpt checkpoints, EMA weights, safety checker, feature extractor,
// ONNX/Flax exports): a pull fetches only the files of the pipeline layout
// (models/diffusers_layout.ts), weights in the preferred precision where the repo has them.
import type { Sibling } from './hub_client.ts';
import {
  expectedWeightFile, OPTIONAL_FILES, REQUIRED_FILES, WEIGHT_COMPONENTS, weightCandidates, type Precision, type WeightComponent,
} from '../models/diffusers_layout.ts';

export interface FilePlan {
  /** Files to fetch, listing entries as the hub gave them. */
  files: Sibling[];
  /** Required files the repo does not have. */
  missing: string[];
  /** Things worth telling the user (a precision fallback, for instance). */
  notes: string[];
}

export function planPipelineFiles(siblings: Sibling[], precision: Precision): FilePlan {
  const byName = new Map(siblings.map((s) => [s.rfilename, s]));
  const plan: FilePlan = { files: [], missing: [], notes: [] };
  for (const name of REQUIRED_FILES) {
    const s = byName.get(name);
    if (s) plan.files.push(s);
    else plan.missing.push(name);
  }
  for (const name of OPTIONAL_FILES) {
    const s = byName.get(name);
    if (s) plan.files.push(s);
  }
  for (const component of WEIGHT_COMPONENTS) planWeights(plan, component, siblings, byName, precision);
  return plan;
}

function planWeights(plan: FilePlan, component: WeightComponent, siblings: Sibling[], byName: Map<string, Sibling>, precision: Precision): void {
  const found = weightCandidates(component, precision).find((c) => byName.has(c.path));
  if (!found) {
    const hasBin = siblings.some((s) => s.rfilename.startsWith(`${component}/`) && /\.(bin|ckpt|pt)$/.test(s.rfilename));
    plan.missing.push(`${component}/${expectedWeightFile(component)}${hasBin ? ' (the repo has only PyTorch .bin/.ckpt weights, which are not supported)' : ''}`);
    return;
  }
  if (found.precision !== precision) {
    plan.notes.push(`${component}: the repo has no ${precision} weights; using ${found.path} (${found.precision})`);
  }
  plan.files.push(byName.get(found.path)!);
}
