// The shape every `tokenflow` sub-command module exports as `command`.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  /** Full help text printed by `tokenflow <name> --help`. */
  help: string;
  /** Runs the command; resolves to the process exit code (0 ok, 1 failure, 2 usage). */
  run(args: string[]): Promise<number>;
}

/** Thrown for bad command-line usage; the dispatcher prints help and exits with 2. */
export class UsageError extends Error {}

/**
 * node:util parseArgs, with its errors turned into UsageError. A negative number after an
 * option that takes a value is that value (`--steps -3`), so that its range is what the user
 * hears about, not parseArgs' "argument is ambiguous".
 */
export function parseOptions<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs({ ...config, args: joinNegativeValues(config), strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function joinNegativeValues(config: ParseArgsConfig): string[] | undefined {
  const { args, options = {} } = config;
  if (!args) return args;
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (takesValue.has(args[i]!) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]!);
    }
  }
  return out;
}

/** A flag's number as people write it: decimal digits, a sign, a point (no `0x10`, `1e3`, `Infinity`). */
export function decimalNumber(text: string, flag: string): number {
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(text.trim())) throw new UsageError(`${flag} must be a decimal number, got "${text}"`);
  return Number(text);
}
