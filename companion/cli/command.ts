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

/** node:util parseArgs, with its errors turned into UsageError. */
export function parseOptions<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs({ ...config, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
