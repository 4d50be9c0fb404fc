// The shape every `tokenflow` sub-command module exports as `command`.

export interface Command {
  /** Full help text printed by `tokenflow <name> --help`. */
  help: string;
  /** Runs the command; resolves to the process exit code (0 ok, 1 failure, 2 usage). */
  run(args: string[]): Promise<number>;
}

/** Thrown for bad command-line usage; the dispatcher prints help and exits with 2. */
export class UsageError extends Error {}
