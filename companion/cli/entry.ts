// The process entry of the `tokenflow` command: bin/tokenflow.mjs (source) and the packaged
// launcher (lib/tokenflow.mjs) both run this module.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
