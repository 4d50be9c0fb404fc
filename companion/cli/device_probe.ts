// What a long-running command (`tokenflow serve`, `tokenflow worker`) runs its models on,
// found and logged once at start: health, the farm's worker list and the start-up log then
// tell the truth before any model has loaded.
import { precisionFromEnv, providersFromEnv } from '../config.ts';
import { gpuName } from '../runtime/gpu_name.ts';
import { probeProvider } from '../runtime/provider_probe.ts';
import { providerDType, type Provider } from '../runtime/session.ts';
import { log } from './console_log.ts';

export interface Device {
  /** The execution provider; null when ONNX Runtime cannot create a session here. */
  provider: Provider | null;
  /** The GPU's name, when it can be told. */
  name: string | null;
}

/** Probes and logs the provider; a bad TOKENFLOW_PROVIDERS / TOKENFLOW_PRECISION throws, naming the variable. */
export async function probeDevice(): Promise<Device> {
  const providers = providersFromEnv();
  const precision = precisionFromEnv();
  try {
    const probe = await probeProvider(providers);
    const name = await gpuName(probe.provider);
    if (name !== null) log('info', `GPU: ${name}`);
    log('info', `execution provider: ${probe.line}; models run as ${precision ?? providerDType(probe.provider)} graphs${precision ? ' (TOKENFLOW_PRECISION)' : ''}`);
    return { provider: probe.provider, name };
  } catch (err) {
    log('error', `ONNX Runtime cannot create a session on this machine, so no job can run: ${err instanceof Error ? err.message : String(err)}`);
    return { provider: null, name: null };
  }
}
