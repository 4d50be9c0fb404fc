// The edit parameters as `tokenflow edit` options (`--steps N`, `--guidance X`, ...): options,
// help lines and parsing, all from the parameter table (shared/parameters.ts).
import { JobParameters, PARAMETERS, parameterRange, type Parameter } from '../../shared/parameters.ts';
import { UsageError } from './command.ts';

/** Rows of a command's option table (options.ts): every parameter is a decimal number, its range checked below. */
export const parameterOptions = Object.fromEntries(PARAMETERS.map((p) => [p.flag, { type: 'number' as const }])) as {
  readonly [F in Parameter['flag']]: { readonly type: 'number' };
};

const HELP_COLUMN = 27;
const HELP_WIDTH = 96;

/** One entry per parameter, in the table's order: `  --steps N   <help> Default 50; <range>.`, wrapped. */
export function parameterHelp(): string {
  return PARAMETERS.map((p) => {
    const head = `  --${p.flag} ${p.type === 'int' ? 'N' : 'X'}`;
    const multiple = 'multipleOf' in p ? `, a multiple of ${p.multipleOf}` : '';
    const text = `${p.help} Default ${p.default}; ${parameterRange(p)}${multiple}.`;
    return wrap(text, HELP_WIDTH - HELP_COLUMN)
      .map((line, i) => (i === 0 ? head.padEnd(HELP_COLUMN - 1) : ' '.repeat(HELP_COLUMN - 1)) + ` ${line}`)
      .join('\n');
  }).join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** The parameters the options give, over the reference defaults; validated by the job schema (same ranges and messages as the API). */
export function parametersFromOptions(values: { readonly [F in Parameter['flag']]?: number }): JobParameters {
  const raw: Record<string, number> = {};
  for (const p of PARAMETERS) {
    const v = values[p.flag];
    if (v !== undefined) raw[p.key] = v;
  }
  const parsed = JobParameters.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = PARAMETERS.find((p) => p.key === issue.path[0])?.flag;
    throw new UsageError(`--${flag ?? String(issue.path[0])}: ${issue.message}`);
  }
  return parsed.data;
}
