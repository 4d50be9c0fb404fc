#!/usr/bin/env node
// Entry point of the `tokenflow` command. The companion is TypeScript run through tsx's
// loader, registered here so that `npm install` needs no build step for the daemon (the
// packaged companion is bundled to JavaScript instead: companion/build/package.ts).
import { register } from 'tsx/esm/api';
register();
await import('../companion/cli/entry.ts');
