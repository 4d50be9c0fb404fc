// The two content hashes the hub publishes: the LFS sha256 of large files (`lfs.sha256`,
// `X-Linked-Etag`) and the git blob sha1 of small ones (`blobId`, `ETag`), which is
// sha1("blob <size>\0" + content). The cache names each blob after one of them.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export type HashKind = 'sha256' | 'git-sha1';

/** Which hash a blob name is: 64 hex digits = sha256, 40 = git sha1. */
export function hashKindOf(name: string): HashKind | undefined {
  if (/^[0-9a-f]{64}$/.test(name)) return 'sha256';
  if (/^[0-9a-f]{40}$/.test(name)) return 'git-sha1';
  return undefined;
}

/** A hasher of the given kind for content of `size` bytes (git hashes include the size). */
export function contentHasher(kind: HashKind, size: number): Hash {
  if (kind === 'sha256') return createHash('sha256');
  return createHash('sha1').update(`blob ${size}\0`);
}

/** Feeds the first `length` bytes of a file (all of it by default) into `hash`. */
export async function hashFileInto(hash: Hash, file: string, length?: number): Promise<void> {
  if (length === 0) return;
  const stream = createReadStream(file, length === undefined ? {} : { start: 0, end: length - 1 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
}

export async function hashFile(kind: HashKind, file: string, size: number): Promise<string> {
  const hash = contentHasher(kind, size);
  await hashFileInto(hash, file);
  return hash.digest('hex');
}
