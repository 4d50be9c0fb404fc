// The daemon's version: the package version, read once from package.json.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../layout.ts';

let cached: string | undefined;

export function daemonVersion(): string {
  cached ??= (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
