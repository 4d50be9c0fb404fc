// `tokenflow` command dispatcher. Each sub-command lives in its own module under
// companion/cli/ and is loaded only when used, so `tokenflow token` never loads ORT.
import type { Command } from './command.ts';
import { UsageError } from './command.ts';

interface CommandEntry {
  summary: string;
  load(): Promise<{ command: Command }>;
}

/** In the order `tokenflow --help` lists them: the everyday commands first. */
const commands: Record<string, CommandEntry> = {
  demo: { summary: 'edit a generated clip with the bundled tiny model (checks the install)', load: () => import('./demo.ts') },
  edit: { summary: 'edit one video headless: tokenflow edit <video> --prompt ... -o out.mov', load: () => import('./edit.ts') },
  serve: { summary: 'run the daemon the Premiere panel talks to', load: () => import('./serve.ts') },
  worker: { summary: 'run a studio farm worker: take jobs from a Redis queue (see README "Studio")', load: () => import('./worker.ts') },
  service: { summary: 'start the daemon at login: tokenflow service install|uninstall|status', load: () => import('./service.ts') },
  token: { summary: "print the daemon's pairing token", load: () => import('./token.ts') },
  jobs: { summary: "list, show or cancel the running daemon's jobs", load: () => import('./jobs.ts') },
  models: { summary: 'list, pull (from the Hugging Face hub) or verify models', load: () => import('./models.ts') },
  probe: { summary: 'show what the companion reads from a media file', load: () => import('./probe.ts') },
  debug: { summary: 'parity tools: tokenize, run one component, run TokenFlow on a reference file, node placement per provider', load: () => import('./debug.ts') },
};

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'Usage: tokenflow <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
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
  const entry = commands[name];
  if (!entry) {
    console.error(`tokenflow: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  let command: Command;
  try {
    ({ command } = await entry.load());
  } catch (err) {
    // e.g. ONNX Runtime on a platform it has no build for: its reason, not a stack trace
    console.error(`tokenflow ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT_FAILURE;
  }
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
