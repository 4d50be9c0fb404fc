// `tokenflow debug run <component> --model DIR --inputs IN.safetensors --out OUT.safetensors`:
// builds one model component's graph from a diffusers folder, runs it once on the named
// tensors of IN and writes every graph output to OUT, for comparison with the Python
// reference. ONNX Runtime and the model builders are loaded only when the command runs.
import path from 'node:path';
import type { Graph, GraphDType } from '../runtime/graph.ts';
import type { Provider } from '../runtime/providers.ts';
import type { TensorToWrite } from '../runtime/safetensors.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { productRuntime } from '../pipeline/tokenflow.ts';
import { providerChoice, providerHelp, providerOptions } from './provider_options.ts';

type InputType = 'float32' | 'int64';

interface BuildOptions {
  conversionCacheDir: string;
  dtype: GraphDType;
  provider: Provider;
}

interface ComponentRunner {
  /** Graph inputs read from IN.safetensors, by name. */
  inputs: Record<string, InputType>;
  /** Graph outputs written to OUT.safetensors (for the help text). */
  outputs: string[];
  /** Builds the component's graph for a provider; its outputs are what OUT.safetensors receives. */
  build(modelDir: string, options: BuildOptions): Promise<Graph>;
}

/** One row per component. Keep it a plain object literal: other components add rows here. */
export const components: Record<string, ComponentRunner> = {
  unet: {
    inputs: { sample: 'float32', timestep: 'int64', encoder_hidden_states: 'float32' },
    outputs: ['out'],
    build: async (dir, options) => (await import('../models/unet_2d_condition.ts')).buildUNetGraph(dir, options).graph,
  },
  'text-encoder': {
    inputs: { input_ids: 'int64' },
    outputs: ['last_hidden_state'],
    build: async (dir, options) => (await import('../models/clip_text.ts')).buildTextEncoderGraph(dir, options).graph,
  },
  'vae-encode': {
    inputs: { image: 'float32' },
    outputs: ['mean', 'logvar'],
    build: async (dir, options) => (await import('../models/vae.ts')).buildVaeEncoderGraph(dir, options).graph,
  },
  'vae-decode': {
    inputs: { latents: 'float32' },
    outputs: ['image'],
    build: async (dir, options) => (await import('../models/vae.ts')).buildVaeDecoderGraph(dir, options).graph,
  },
};

export const runHelp = [
  'tokenflow debug run <component> --model DIR --inputs IN.safetensors --out OUT.safetensors [--cache-dir DIR] [--provider P] [--precision float16|float32]',
  '  Runs one component of a diffusers model folder and writes its outputs: on the CPU in float32 unless',
  '  --provider / --precision (or TOKENFLOW_PROVIDERS / TOKENFLOW_PRECISION) say otherwise.',
  '  Components (inputs -> outputs):',
  ...Object.entries(components).map(([name, c]) => `    ${name}: ${Object.keys(c.inputs).join(', ')} -> ${c.outputs.join(', ')}`),
  '  Extra tensors in IN are ignored; a scalar timestep is used for the whole batch.',
  '  Weights of another float type than the graph\'s are converted once into --cache-dir (default: the product\'s cache, <data>/cache/weights).',
  providerHelp('cpu'),
].join('\n');

export async function debugRun(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, {
    model: { type: 'string' },
    inputs: { type: 'string' },
    out: { type: 'string' },
    'cache-dir': { type: 'string' },
    ...providerOptions,
  }, 1);
  const choice = providerChoice(values);
  const [name] = positionals;
  if (!name) throw new UsageError(`missing <component> (one of ${Object.keys(components).join(', ')})`);
  const component = components[name];
  if (!component) throw new UsageError(`unknown component "${name}" (one of ${Object.keys(components).join(', ')})`);
  for (const opt of ['model', 'inputs', 'out'] as const) if (!values[opt]) throw new UsageError(`--${opt} is required`);

  const { SafetensorsFile, writeSafetensors } = await import('../runtime/safetensors.ts');
  const { createPolicySession, run, ort } = await import('../runtime/session.ts');
  const inputsFile = SafetensorsFile.open(values.inputs!);
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const [input, type] of Object.entries(component.inputs)) {
    const info = inputsFile.tensors.get(input);
    if (!info) {
      throw new Error(`${values.inputs}: no tensor "${input}" (the ${name} needs ${Object.keys(component.inputs).join(', ')})`);
    }
    // Scalars (shape []) become [1]; the graphs broadcast a single timestep over the batch.
    const dims = info.shape.length ? info.shape : [1];
    const isInt = !['F64', 'F32', 'F16', 'BF16'].includes(info.dtype);
    if (type === 'int64') {
      if (!isInt) throw new Error(`${values.inputs}: tensor "${input}" is ${info.dtype}, the ${name} needs an integer tensor`);
      feeds[input] = new ort.Tensor('int64', BigInt64Array.from(inputsFile.readInts(input).map(BigInt)), dims);
    } else {
      if (isInt) throw new Error(`${values.inputs}: tensor "${input}" is ${info.dtype}, the ${name} needs a floating-point tensor`);
      feeds[input] = new ort.Tensor('float32', inputsFile.readFloat32(input), dims);
    }
  }

  const started = Date.now();
  const runtime = productRuntime();
  const conversionCacheDir = values['cache-dir'] ?? runtime.conversionCacheDir!;
  const session = await createPolicySession(name, async (dtype, provider) => {
    const graph = await component.build(values.model!, { conversionCacheDir, dtype, provider });
    return { bytes: graph.toBytes(), weightsFolder: graph.weightsFolder };
  }, {
    providers: choice.providers ?? runtime.providers ?? ['cpu'],
    dtype: choice.dtype ?? runtime.dtype,
    log: (line) => console.error(line),
  });
  const built = Date.now();
  const outputs = await run(session, feeds);
  const ran = Date.now();
  const tensors = Object.entries(outputs).map(([outName, t]): [string, TensorToWrite] => {
    if (t.type !== 'float32') throw new Error(`output "${outName}" is ${t.type}; only float32 outputs are written`);
    return [outName, { dtype: 'F32', shape: [...t.dims], data: t.data as Float32Array }];
  });
  writeSafetensors(values.out!, tensors, { component: name, model: path.resolve(values.model!) });
  console.error(`${name}: built in ${built - started} ms, ran in ${ran - built} ms; wrote ${tensors.map(([n, t]) => `${n} [${t.shape}]`).join(', ')} to ${values.out}`);
  return 0;
}

/** The `run` row of `tokenflow debug`. */
export const runCommand: Command = { help: runHelp, run: debugRun };
