// Child process of placement.ts: creates the session of every component the pipeline runs,
// through the pipeline's own loaders, on one provider with ORT logging at verbose level, so
// ORT writes each session's node placement to this process's stderr. A section mark goes to
// stderr before each component; one JSON line per component goes to stdout.
// argv: MODEL_DIR PROVIDER PRECISION; PROVIDER 'default' is the first of the product's order
// that loads (the provider probe), PRECISION 'default' the product's precision for it.
import { writeSync } from 'node:fs';
import { markSection } from '../runtime/placement_log.ts';
import { probeProvider } from '../runtime/provider_probe.ts';
import { ort, providerDType, type Provider } from '../runtime/session.ts';
import { PlainUNet, VaeDecoder, VaeEncoder, loadTextEncoder, type RuntimeOptions } from './components.ts';
import { TokenFlowEditor } from './edit_step.ts';
import { productRuntime } from './tokenflow.ts';
import type { GraphDType } from '../runtime/graph.ts';

/** The components in pipeline order; each loads its session and releases it. */
const PLACEMENT_COMPONENTS: Record<string, (dir: string, options: RuntimeOptions) => Promise<{ release(): Promise<void> }>> = {
  text_encoder: async (dir, o) => {
    const { session } = await loadTextEncoder(dir, o);
    return { release: () => session.release() };
  },
  vae_encoder: (dir, o) => VaeEncoder.load(dir, o),
  vae_decoder: (dir, o) => VaeDecoder.load(dir, o),
  unet: (dir, o) => PlainUNet.load(dir, o),
  tokenflow_unet: (dir, o) => TokenFlowEditor.load(dir, o),
};

export interface ChildComponentResult {
  name: string;
  provider: Provider;
  precision: GraphDType;
  error?: string;
}

async function main(args: string[]): Promise<void> {
  const [modelDir, wanted, precision] = args as [string, Provider | 'default', string];
  ort.env.logLevel = 'verbose'; // read when ORT initialises, i.e. at the first session
  const provider = wanted === 'default' ? (await probeProvider()).provider : wanted;
  const runtime = productRuntime();
  const dtype = precision === 'default' ? runtime.dtype ?? providerDType(provider) : precision as GraphDType;
  const options: RuntimeOptions = { ...runtime, providers: [provider], dtype };
  for (const [name, load] of Object.entries(PLACEMENT_COMPONENTS)) {
    writeSync(2, markSection(name));
    const result: ChildComponentResult = { name, provider, precision: dtype };
    try {
      await (await load(modelDir, options)).release();
    } catch (err) {
      result.error = err instanceof Error ? err.message : String(err);
    }
    writeSync(1, `${JSON.stringify(result)}\n`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  // The last line of stderr is what the parent reports.
  writeSync(2, `${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
