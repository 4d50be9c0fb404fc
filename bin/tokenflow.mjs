#!/usr/bin/env node
// Entry point of the `tokenflow` command. The companion is TypeScript run through tsx's
// loader, registered here so that `npm install` needs no build step for the daemon.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../companion/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
