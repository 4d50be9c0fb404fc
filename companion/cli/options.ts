// The options of every `tokenflow` sub-command, read from one table per command: each row
// names its type (string, boolean, number, int, list), short letter, range or parse function,
// and comes back as a typed value. Every mistake is a UsageError naming the flag, which the
// dispatcher (main.ts) prints above the command's help.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.ts';

type ParseArgsOptions = NonNullable<ParseArgsConfig['options']>;

/** Reads a flag's text; what it throws becomes a UsageError with the same message. */
type Parse<R> = (text: string, flag: string) => R;

export type OptionSpec =
  | { readonly type: 'boolean'; readonly short?: string }
  /** `parse` turns the text into the value; `default` is the text read when the flag is absent (e.g. an environment variable's). */
  | { readonly type: 'string'; readonly short?: string; readonly parse?: Parse<unknown>; readonly default?: string }
  /** Repeatable: every occurrence, in order (none: an empty list). */
  | { readonly type: 'list'; readonly short?: string; readonly parse?: Parse<unknown> }
  /** Decimal digits, a sign, a point (no `0x10`, `1e3`, `Infinity`); its range is for the caller to check. */
  | { readonly type: 'number'; readonly short?: string }
  /** Digits only, within the range. */
  | { readonly type: 'int'; readonly short?: string; readonly min: number; readonly max: number };

export type OptionTable = Readonly<Record<string, OptionSpec>>;

type Item<S> = S extends { parse: Parse<infer R> } ? R : S extends { type: 'number' | 'int' } ? number : string;

type Value<S> = S extends { type: 'boolean' } ? boolean
  : S extends { type: 'list' } ? Item<S>[]
  : S extends { default: string } ? Item<S>
  : Item<S> | undefined;

export type OptionValues<T extends OptionTable> = { -readonly [K in keyof T]: Value<T[K]> };

export interface CommandLine<T extends OptionTable> {
  values: OptionValues<T>;
  positionals: string[];
}

/**
 * Reads `args` with the table. More than `maxPositionals` plain arguments is a usage error
 * naming the first one too many (a command with its own message for that passes Infinity).
 */
export function parseCommandLine<const T extends OptionTable>(args: string[], table: T, maxPositionals = 0): CommandLine<T> {
  const { values: raw, positionals } = nodeParse(args, table);
  if (positionals.length > maxPositionals) throw new UsageError(`unexpected argument "${positionals[maxPositionals]}"`);
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) values[name] = readValue(spec, raw[name], `--${name}`);
  return { values: values as OptionValues<T>, positionals };
}

/**
 * node:util parseArgs, with its errors turned into UsageError. A negative number after an
 * option that takes a value is that value (`--steps -3`), so that its range is what the user
 * hears about, not parseArgs' "argument is ambiguous".
 */
function nodeParse(args: string[], table: OptionTable) {
  const options: ParseArgsOptions = {};
  for (const [name, spec] of Object.entries(table)) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', multiple: spec.type === 'list', ...(spec.short ? { short: spec.short } : {}) };
  }
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(message(err));
  }
}

function joinNegativeValues(args: string[], options: ParseArgsOptions): string[] {
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

function readValue(spec: OptionSpec, raw: string | boolean | (string | boolean)[] | undefined, flag: string): unknown {
  switch (spec.type) {
    case 'boolean':
      return raw === true;
    case 'list':
      return ((raw ?? []) as string[]).map((text) => parsed(spec.parse, text, flag));
    case 'string': {
      const text = (raw as string | undefined) ?? spec.default;
      return text === undefined ? undefined : parsed(spec.parse, text, flag);
    }
    case 'number':
    case 'int':
      return raw === undefined ? undefined : numberOf(spec, raw as string, flag);
  }
}

function parsed(parse: Parse<unknown> | undefined, text: string, flag: string): unknown {
  if (!parse) return text;
  try {
    return parse(text, flag);
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(message(err));
  }
}

function numberOf(spec: Extract<OptionSpec, { type: 'number' | 'int' }>, text: string, flag: string): number {
  const n = Number(text);
  if (spec.type === 'int') {
    if (!/^\d+$/.test(text) || n < spec.min || n > spec.max) throw new UsageError(`${flag} must be an integer from ${spec.min} to ${spec.max}, got "${text}"`);
  } else if (!/^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(text.trim())) {
    throw new UsageError(`${flag} must be a decimal number, got "${text}"`);
  }
  return n;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
