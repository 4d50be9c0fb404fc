// `tokenflow` command dispatcher. Each sub-command lives in its own module under
// companion/cli/ and is loaded only when used, so `tokenflow token` never loads ORT.
import type { Command } from './command.ts';
import { UsageError } from './command.ts';

const commands: Record<string, () => Promise<{ command: Command }>> = {
  debug: () => import('./debug.ts'),
  models: () => import('./models.ts'),
  serve: () => import('./serve.ts'),
  token: () => import('./token.ts'),
  jobs: () => import('./jobs.ts'),
  probe: () => import('./probe.ts'),
  edit: () => import('./edit.ts'),
  demo: () => import('./demo.ts'),
};

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function usage(): string {
  const names = Object.keys(commands).sort();
  return [
    'Usage: tokenflow <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n}`),
    '',
    'Run `tokenflow <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? EXIT_OK : EXIT_USAGE;
  }
  const load = commands[name];
  if (!load) {
    console.error(`tokenflow: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return EXIT_OK;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`tokenflow ${name}: ${err.message}\n\n${command.help}`);
      return EXIT_USAGE;
    }
    console.error(`tokenflow ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT_FAILURE;
  }
}
