// `--provider NAME` and `--precision float16|float32`, shared by `edit`, `debug run`,
// `debug tokenflow` and `debug placement`: the same meaning as TOKENFLOW_PROVIDERS /
// TOKENFLOW_PRECISION, which they override for the one command.
import type { GraphDType } from '../runtime/graph.ts';
import { PROVIDERS, parsePrecision, parseProviders, type Provider } from '../runtime/providers.ts';

/** Rows of a command's option table (options.ts). */
export const providerOptions = {
  provider: { type: 'string', parse: parseProviders },
  precision: { type: 'string', parse: parsePrecision },
} as const;

/** Help lines for both options; `fallback` is the providers used without them and TOKENFLOW_PROVIDERS. */
export function providerHelp(fallback: string): string {
  return [
    `  --provider NAME          execution provider(s) to try in order, comma-separated: ${PROVIDERS.join(', ')}`,
    `                           (default TOKENFLOW_PROVIDERS, else ${fallback})`,
    '  --precision P            float16 | float32 graphs on every provider (default',
    '                           TOKENFLOW_PRECISION, else float16 on GPUs, float32 on the CPU)',
  ].join('\n');
}

export interface ProviderChoice {
  providers?: Provider[];
  dtype?: GraphDType;
}

/** The options' values as the runtime takes them: only what was given. */
export function providerChoice(values: { provider: Provider[] | undefined; precision: GraphDType | undefined }): ProviderChoice {
  return {
    ...(values.provider !== undefined ? { providers: values.provider } : {}),
    ...(values.precision !== undefined ? { dtype: values.precision } : {}),
  };
}
