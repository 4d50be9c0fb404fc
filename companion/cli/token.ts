// `tokenflow token`: prints the daemon's bearer token (creating it on first use), which the
// Premiere panel asks for when pairing.
import { resolveFolders } from '../config.ts';
import { loadOrCreateToken, rotateToken, tokenPath } from '../server/token.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';

const help = `Usage: tokenflow token [--path | --rotate]

Prints the bearer token that clients (the Premiere panel, curl) send to the daemon as
"Authorization: Bearer <token>". It is created on first use and stored owner-only in the
config folder; the same token is printed every time.

Options:
  --path      print where the token is stored instead of the token
  --rotate    replace the token with a new one (revokes the old one; restart a running
              \`tokenflow serve\` and pair the panel again)
  -h, --help  this help`;

export const command: Command = {
  help,
  async run(args) {
    const { values } = parseCommandLine(args, { path: { type: 'boolean' }, rotate: { type: 'boolean' } });
    if (values.path && values.rotate) throw new UsageError('--path and --rotate cannot be combined');
    const { configDir } = resolveFolders();
    if (values.path) {
      console.log(tokenPath(configDir));
      return 0;
    }
    if (values.rotate) {
      console.log(await rotateToken(configDir));
      console.error('New token written. Restart `tokenflow serve` and pair the panel with the new token.');
      return 0;
    }
    console.log(await loadOrCreateToken(configDir));
    return 0;
  },
};
