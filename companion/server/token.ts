// The per-install bearer token: 32 random bytes, base64url (43 characters: RFC 6455 token
// characters, so it also works inside a `bearer.<token>` WebSocket subprotocol). Kept in
// <configDir>/token, file 0600 inside a 0700 folder.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE = 'token';
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const isPosix = process.platform !== 'win32';

export function tokenPath(configDir: string): string {
  return path.join(configDir, TOKEN_FILE);
}

/** Reads the token, creating it (and the config folder) when absent. */
export async function loadOrCreateToken(configDir: string): Promise<string> {
  await ensurePrivateDir(configDir);
  const existing = await readToken(configDir);
  if (existing !== undefined) return existing;
  const file = tokenPath(configDir);
  // Write a private temp file, then link it into place: link fails if another process
  // (a concurrent `tokenflow token`) created the token first, and then theirs wins.
  const token = newToken();
  const temp = await writePrivateTemp(file, token);
  try {
    await linkExclusive(temp, file);
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await fs.rm(temp, { force: true });
  }
  const winner = await readToken(configDir);
  if (winner === undefined) throw new Error(`token file ${file} vanished while being created`);
  return winner;
}

/**
 * Replaces the token with a new one (a leaked token is revoked this way). A running daemon
 * keeps the token it started with until it is restarted.
 */
export async function rotateToken(configDir: string): Promise<string> {
  await ensurePrivateDir(configDir);
  const file = tokenPath(configDir);
  const token = newToken();
  const temp = await writePrivateTemp(file, token);
  try {
    await fs.rename(temp, file);
  } finally {
    await fs.rm(temp, { force: true });
  }
  return token;
}

/** The stored token, or undefined when the file does not exist. */
export async function readToken(configDir: string): Promise<string | undefined> {
  const file = tokenPath(configDir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const token = text.trim();
  if (!TOKEN_PATTERN.test(token)) {
    throw new Error(`token file ${file} does not hold a valid token; delete it and a new one is created`);
  }
  if (isPosix) {
    // A token readable by other users is no secret: tighten it rather than trust it.
    const { mode } = await fs.stat(file);
    if ((mode & 0o077) !== 0) await fs.chmod(file, 0o600);
  }
  return token;
}

/**
 * Constant-time comparison. Both sides are hashed first so the buffers handed to
 * timingSafeEqual always have equal length and the token's length does not leak either.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Puts `temp` in place as `file`, failing with EEXIST if `file` exists. */
async function linkExclusive(temp: string, file: string): Promise<void> {
  try {
    await fs.link(temp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // File systems without hard links (FAT, some network shares): an exclusive copy.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err;
    await fs.copyFile(temp, file, fsConstants.COPYFILE_EXCL);
  }
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes the token to a fresh 0600 file beside `file` and returns that file's path. */
async function writePrivateTemp(file: string, token: string): Promise<string> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${token}\n`);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  return temp;
}

async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (isPosix) {
    const { mode } = await fs.stat(dir);
    if ((mode & 0o077) !== 0) await fs.chmod(dir, 0o700);
  }
}
