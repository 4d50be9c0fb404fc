// `--provider NAME` and `--precision float16|float32`, shared by `edit`, `debug run` and
// `debug tokenflow`: the same meaning as TOKENFLOW_PROVIDERS / TOKENFLOW_PRECISION, which
// they override for the one command.
import type { GraphDType } from '../runtime/graph.ts';
import { PROVIDERS, parsePrecision, parseProviders, type Provider } from '../runtime/providers.ts';
import { UsageError } from './command.ts';

export const providerOptions = {
  provider: { type: 'string' },
  precision: { type: 'string' },
} as const;

export const providerHelp = [
  `  --provider NAME          execution provider(s) to try in order, comma-separated: ${PROVIDERS.join(', ')}`,
  '                           (default TOKENFLOW_PROVIDERS, else the platform\'s order)',
  '  --precision P            float16 | float32 graphs on every provider (default',
  '                           TOKENFLOW_PRECISION, else float16 on GPUs, float32 on the CPU)',
].join('\n');

export interface ProviderChoice {
  providers?: Provider[];
  dtype?: GraphDType;
}

export function providerChoice(values: { provider?: string; precision?: string }): ProviderChoice {
  try {
    return {
      ...(values.provider !== undefined ? { providers: parseProviders(values.provider, '--provider') } : {}),
      ...(values.precision !== undefined ? { dtype: parsePrecision(values.precision, '--precision') } : {}),
    };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
