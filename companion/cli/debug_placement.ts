// `tokenflow debug placement --model DIR [--provider P] [--precision float16|float32] [--json]`:
// builds every component graph the pipeline runs for one provider and prints where ONNX
// Runtime placed their nodes (companion/pipeline/placement.ts).
import { PROVIDERS } from '../runtime/providers.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { providerOptions } from './provider_options.ts';
import type { ComponentPlacement } from '../pipeline/placement.ts';

export const placementHelp = [
  'tokenflow debug placement --model DIR [--provider P] [--precision float16|float32] [--json]',
  '  Builds every component graph the pipeline runs (text encoder, VAE encoder and decoder, plain',
  '  and TokenFlow UNet) for provider P and prints, per component, the nodes ONNX Runtime placed',
  '  on each execution provider and the op types left on the CPU.',
  `  P: one of ${PROVIDERS.join(', ')} (default: the first of TOKENFLOW_PROVIDERS or the platform's`,
  '  order that loads). Precision default: TOKENFLOW_PRECISION, else float16 on GPUs, float32 on the CPU.',
  '  --json prints {"components":[{"name","provider","precision","by_provider","cpu_ops"}]}.',
  '  Exit status 1 when a component\'s session could not be created.',
].join('\n');

export async function debugPlacement(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, { model: { type: 'string' }, ...providerOptions, json: { type: 'boolean' } });
  if (!values.model) throw new UsageError('--model DIR is required');
  if (values.provider && values.provider.length !== 1) throw new UsageError('--provider takes one execution provider');
  const { placementReport } = await import('../pipeline/placement.ts');
  const report = await placementReport({ modelDir: values.model, provider: values.provider?.[0], precision: values.precision });
  console.log(values.json ? JSON.stringify(report, null, 2) : report.components.map(describe).join('\n'));
  return report.components.some((c) => c.error) ? 1 : 0;
}

function describe(c: ComponentPlacement): string {
  const head = `${c.name} (${c.provider}, ${c.precision})`;
  if (c.error) return `${head}: not created: ${c.error}`;
  const counts = (ops: Record<string, number>) => Object.entries(ops).sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ${n}`).join(', ');
  const lines = [`${head}: ${counts(c.by_provider)}`];
  if (Object.keys(c.cpu_ops).length) lines.push(`  on the CPU: ${counts(c.cpu_ops)}`);
  return lines.join('\n');
}

/** The `placement` row of `tokenflow debug`. */
export const placementCommand: Command = { help: placementHelp, run: debugPlacement };
