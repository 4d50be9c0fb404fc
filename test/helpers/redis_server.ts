// A real redis-server for the studio farm's tests: on a free loopback port, its files in a
// temp folder; stopped (SIGTERM, then waited for) by stop(). Without persistence by default;
// `appendOnly` keeps every write in an fsync'd append-only file, so restart() (a crash and a
// start on the same port and folder) loses nothing, as on a studio's server.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free_port.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  url: string;
  port: number;
  /** The running server process (a new one after restart()). */
  readonly child: ChildProcess;
  /** Kills the server with `signal` (default SIGKILL: a crash) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and folder (after kill()). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(password?: string, { appendOnly = false }: { appendOnly?: boolean } = {}): Promise<RedisServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push(...(appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  if (password !== undefined) args.push('--requirepass', password);
  let server = await launch(args);
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
    await server.exited;
  };
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    get child() {
      return server.child;
    },
    kill,
    async start() {
      server = await launch(args);
    },
    async stop() {
      await kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function launch(args: string[]): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within 20 s:\n${out}`)), 20_000);
    const check = () => {
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`redis-server exited early:\n${out}`)));
  });
  return { child, exited };
}
