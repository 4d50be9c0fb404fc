// Where the daemon keeps its files and how it listens, resolved from (highest first)
// command-line flags, environment variables and per-platform defaults.
//
// Folders (the `TokenFlow Renders` output folder sits where video apps put media):
//   Linux   config $XDG_CONFIG_HOME/tokenflow (~/.config/tokenflow)
//           data   $XDG_DATA_HOME/tokenflow   (~/.local/share/tokenflow)
//           output ~/Videos/TokenFlow Renders if ~/Videos exists, else <data>/renders
//   macOS   config and data ~/Library/Application Support/TokenFlow
//           output ~/Movies/TokenFlow Renders
//   Windows config %APPDATA%\TokenFlow, data %LOCALAPPDATA%\TokenFlow
//           output %USERPROFILE%\Videos\TokenFlow Renders
// TOKENFLOW_HOME=<dir> puts everything under one folder (<dir>/config, <dir>/data,
// <dir>/renders): handy for tests and portable installs.
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PORT } from '../shared/api.ts';
import type { GraphDType } from './runtime/graph.ts';
import { parsePrecision, parseProviders, type Provider } from './runtime/providers.ts';

/**
 * Default TCP port (shared with the panel). 43117 is outside the IANA well-known/registered
 * ranges in common use and clear of the ports local AI and dev tools take (3000, 5000, 7860,
 * 8000, 8080, 8188, 11434).
 */
export { DEFAULT_PORT };
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_CONCURRENCY = 1;

export interface Folders {
  /** Token and settings; owner-only (0700). */
  configDir: string;
  /** Job store, caches, the running daemon's discovery file. */
  dataDir: string;
  /** The only folder renders are written to. */
  outputDir: string;
}

export type Env = Record<string, string | undefined>;

/**
 * The process's environment. Settings are read from it only in this module: the functions
 * here take an `env` (tests pass their own) and the rest of the code receives values.
 */
export function processEnv(): Env {
  return process.env;
}

export function resolveFolders(
  env: Env = processEnv(),
  platform: NodeJS.Platform = process.platform,
  home: string = os.homedir(),
): Folders {
  const tokenflowHome = nonEmpty(env.TOKENFLOW_HOME);
  let folders: Folders;
  if (tokenflowHome) {
    const root = path.resolve(tokenflowHome);
    folders = {
      configDir: path.join(root, 'config'),
      dataDir: path.join(root, 'data'),
      outputDir: path.join(root, 'renders'),
    };
  } else if (platform === 'darwin') {
    const support = path.join(home, 'Library', 'Application Support', 'TokenFlow');
    folders = {
      configDir: support,
      dataDir: support,
      outputDir: path.join(home, 'Movies', 'TokenFlow Renders'),
    };
  } else if (platform === 'win32') {
    const roaming = nonEmpty(env.APPDATA) ?? path.join(home, 'AppData', 'Roaming');
    const local = nonEmpty(env.LOCALAPPDATA) ?? path.join(home, 'AppData', 'Local');
    folders = {
      configDir: path.join(roaming, 'TokenFlow'),
      dataDir: path.join(local, 'TokenFlow'),
      outputDir: path.join(home, 'Videos', 'TokenFlow Renders'),
    };
  } else {
    // XDG base directories; relative values are invalid per the spec and ignored.
    const xdgConfig = absolute(env.XDG_CONFIG_HOME) ?? path.join(home, '.config');
    const xdgData = absolute(env.XDG_DATA_HOME) ?? path.join(home, '.local', 'share');
    const dataDir = path.join(xdgData, 'tokenflow');
    const videos = path.join(home, 'Videos');
    folders = {
      configDir: path.join(xdgConfig, 'tokenflow'),
      dataDir,
      outputDir: existsSync(videos)
        ? path.join(videos, 'TokenFlow Renders')
        : path.join(dataDir, 'renders'),
    };
  }
  const outputOverride = nonEmpty(env.TOKENFLOW_OUTPUT_DIR);
  if (outputOverride) folders.outputDir = path.resolve(outputOverride);
  return folders;
}

/**
 * Root of the pipeline's caches: TOKENFLOW_CACHE_DIR, else `<data folder>/cache`. Holds
 * `inversion/` (latent stores), `weights/` (checkpoints converted once to the precision a
 * provider runs: fp32 for the CPU, fp16 for GPUs) and `graphs/` (built ONNX graphs).
 */
export function cacheRoot(env: Env = processEnv()): string {
  const dir = env.TOKENFLOW_CACHE_DIR?.trim();
  return dir ? path.resolve(dir) : path.join(resolveFolders(env).dataDir, 'cache');
}

/**
 * Makes `dir` (and any missing parent) owner-only (0700): the data, work and cache folders
 * hold frames of the user's clips, their latents and source paths. An existing folder is
 * tightened too (installs before this rule made them 0755).
 */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') chmodSync(dir, 0o700);
  return dir;
}

/** TOKENFLOW_PORT, validated; the default port when unset. */
export function portFromEnv(env: Env = processEnv()): number {
  const raw = nonEmpty(env.TOKENFLOW_PORT);
  if (raw === undefined) return DEFAULT_PORT;
  const port = parsePort(raw);
  if (port === undefined) {
    throw new Error(`TOKENFLOW_PORT must be an integer from 0 to 65535, got "${raw}"`);
  }
  return port;
}

/** TOKENFLOW_URL: the daemon address CLI commands talk to (`tokenflow jobs`); undefined when unset. */
export function daemonUrlFromEnv(env: Env = processEnv()): string | undefined {
  return nonEmpty(env.TOKENFLOW_URL);
}

/**
 * TOKENFLOW_PROVIDERS: execution providers to try in order (e.g. `webgpu,cpu`), overriding the
 * platform's default order everywhere (daemon, edit, debug); undefined when unset.
 */
export function providersFromEnv(env: Env = processEnv()): Provider[] | undefined {
  const raw = nonEmpty(env.TOKENFLOW_PROVIDERS);
  return raw === undefined ? undefined : parseProviders(raw, 'TOKENFLOW_PROVIDERS');
}

/** TOKENFLOW_PRECISION: graph precision for every provider (float32 | float16); undefined when unset. */
export function precisionFromEnv(env: Env = processEnv()): GraphDType | undefined {
  const raw = nonEmpty(env.TOKENFLOW_PRECISION);
  return raw === undefined ? undefined : parsePrecision(raw, 'TOKENFLOW_PRECISION');
}

/** Parses a decimal TCP port (0 = any free port); undefined when invalid. */
export function parsePort(raw: string): number | undefined {
  if (!/^\d{1,5}$/.test(raw)) return undefined;
  const port = Number(raw);
  return port <= 65535 ? port : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== '' ? value : undefined;
}

function absolute(value: string | undefined): string | undefined {
  const v = nonEmpty(value);
  return v && path.isAbsolute(v) ? v : undefined;
}

/**
 * Where `tokenflow service install` keeps TOKENFLOW_QUEUE_PASSWORD for the daemon it registers:
 * service files are readable by every user, this file (0600, in the owner-only config folder;
 * on Windows in the user's own %APPDATA%) only by its owner.
 */
export const QUEUE_PASSWORD_FILE = 'queue-password';

export function queuePasswordPath(configDir: string): string {
  return path.join(configDir, QUEUE_PASSWORD_FILE);
}

/**
 * The studio farm's queue (TOKENFLOW_QUEUE, TOKENFLOW_QUEUE_PASSWORD); undefined when unset.
 * Given the config folder (the daemon's), a password not in the environment is read from
 * its queue-password file.
 */
export function queueFromEnv(env: Env = processEnv(), configDir?: string): { url: string | undefined; password: string | undefined } {
  const password = nonEmpty(env.TOKENFLOW_QUEUE_PASSWORD) ?? (configDir === undefined ? undefined : storedQueuePassword(configDir));
  return { url: nonEmpty(env.TOKENFLOW_QUEUE), password };
}

/** The stored password without the line end an editor may add; undefined when there is none. */
function storedQueuePassword(configDir: string): string | undefined {
  const file = queuePasswordPath(configDir);
  return existsSync(file) ? nonEmpty(readFileSync(file, 'utf8').replace(/\r?\n$/, '')) : undefined;
}

/** TOKENFLOW_MODEL: the default model (id or folder) of `serve` and `edit`; undefined when unset. */
export function modelFromEnv(env: Env = processEnv()): string | undefined {
  return nonEmpty(env.TOKENFLOW_MODEL)?.trim();
}

/** TOKENFLOW_MODELS: extra model folders, separated like PATH; undefined when unset. */
export function modelFoldersFromEnv(env: Env = processEnv()): string | undefined {
  return env.TOKENFLOW_MODELS;
}

/** TOKENFLOW_DEBUG=1: debug lines in the daemon's and worker's logs. */
export function debugFromEnv(env: Env = processEnv()): boolean {
  return env.TOKENFLOW_DEBUG === '1';
}

/**
 * TOKENFLOW_INVERSION_CACHE_GB: the shared inversion cache's bound in bytes (0 = off);
 * undefined when unset. Throws naming the variable when it is not a number >= 0.
 */
export function inversionCacheBytesFromEnv(env: Env = processEnv()): number | undefined {
  const raw = env.TOKENFLOW_INVERSION_CACHE_GB?.trim();
  if (!raw) return undefined;
  const gb = Number(raw);
  if (!Number.isFinite(gb) || gb < 0) throw new Error(`TOKENFLOW_INVERSION_CACHE_GB must be a number of gigabytes >= 0, got "${raw}"`);
  return Math.floor(gb * 1024 ** 3);
}

/** TOKENFLOW_FFMPEG / TOKENFLOW_FFPROBE: ffmpeg and ffprobe to use instead of the bundled ones. */
export function mediaBinariesFromEnv(env: Env = processEnv()): { ffmpeg: string | undefined; ffprobe: string | undefined } {
  return { ffmpeg: nonEmpty(env.TOKENFLOW_FFMPEG)?.trim(), ffprobe: nonEmpty(env.TOKENFLOW_FFPROBE)?.trim() };
}

/** The Hugging Face variables the hub code honours, as the `huggingface_hub` library reads them. */
export interface HubEnv {
  /** HF_ENDPOINT. */
  endpoint: string | undefined;
  /** HF_TOKEN, else HUGGING_FACE_HUB_TOKEN. */
  token: string | undefined;
  /** HF_HUB_OFFLINE (1, true, yes, on). */
  offline: boolean;
  /** HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE. */
  hubCache: string | undefined;
  /** HF_HOME. */
  hfHome: string | undefined;
  /** XDG_CACHE_HOME. */
  xdgCache: string | undefined;
}

export function hubEnv(env: Env = processEnv()): HubEnv {
  return {
    endpoint: env.HF_ENDPOINT || undefined,
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
    offline: ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase()),
    hubCache: env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || undefined,
    hfHome: env.HF_HOME || undefined,
    xdgCache: env.XDG_CACHE_HOME || undefined,
  };
}

/** XDG_CONFIG_HOME as given (the service plan checks it); undefined when unset. */
export function xdgConfigHomeFromEnv(env: Env = processEnv()): string | undefined {
  return env.XDG_CONFIG_HOME;
}
