// The packaged companion (npm run package:companion): its size for every target that can be
// packaged, and, for this machine's target, how long the unpacked package takes to start:
// `tokenflow --help` (process start + the bundled CLI) and `tokenflow serve` until it answers
// health, each against the same command run from source (node + tsx).
// Run through `npm run bench`, or alone: node --import tsx bench/run.ts package
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { packageCompanion, PACKAGE_FOLDER } from '../companion/build/package.ts';
import { hostTargetId, TARGETS } from '../companion/build/targets.ts';
import { API_PATHS } from '../shared/api.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../', import.meta.url));
const SOURCE_BIN = path.join(REPO, 'bin', 'tokenflow.mjs');
const RUNS = 5;

export async function benchPackage(): Promise<object> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenflow-bench-package-'));
  try {
    const targets: Record<string, object> = {};
    let hostArchive: string | undefined;
    for (const target of TARGETS) {
      if (!target.parts) {
        targets[target.id] = { refused: target.refused };
        continue;
      }
      const started = performance.now();
      const result = await packageCompanion({ repoRoot: REPO, targetId: target.id, outDir: path.join(work, 'out') });
      targets[target.id] = {
        archive: path.basename(result.archive),
        archiveMB: mb(result.archiveBytes),
        unpackedMB: mb(result.unpackedBytes),
        packageSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      };
      if (target.id === hostTargetId()) hostArchive = result.archive;
    }
    if (!hostArchive || hostArchive.endsWith('.zip')) return { targets };

    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    await run('tar', ['-xzf', hostArchive, '-C', unpacked]);
    const packaged = [path.join(unpacked, PACKAGE_FOLDER, 'bin', 'tokenflow')];
    const source = [process.execPath, SOURCE_BIN];
    const home = path.join(work, 'home');
    return {
      targets,
      startup: {
        runs: RUNS,
        helpMs: { packaged: await median(() => timeCommand(packaged, ['--help'])), source: await median(() => timeCommand(source, ['--help'])) },
        serveToHealthMs: {
          packaged: await median(() => timeServe(packaged, home)),
          source: await median(() => timeServe(source, home)),
        },
      },
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function mb(bytes: number): number {
  return Number((bytes / 1e6).toFixed(1));
}

async function median(measure: () => Promise<number>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await measure());
  samples.sort((a, b) => a - b);
  return Math.round(samples[Math.floor(samples.length / 2)]!);
}

async function timeCommand(command: string[], args: string[]): Promise<number> {
  const started = performance.now();
  await run(command[0]!, [...command.slice(1), ...args]);
  return performance.now() - started;
}

/** From spawning `serve --port 0` until GET /v1/health answers. */
async function timeServe(command: string[], home: string): Promise<number> {
  const started = performance.now();
  const child = spawn(command[0]!, [...command.slice(1), 'serve', '--port', '0'], {
    env: { ...process.env, TOKENFLOW_HOME: home, TOKENFLOW_PORT: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    });
    const response = await fetch(`${url}${API_PATHS.health}`);
    if (!response.ok) throw new Error(`health answered ${response.status}`);
    return performance.now() - started;
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
