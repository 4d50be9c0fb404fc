// A stand-in for the Hugging Face hub on 127.0.0.1, serving repositories the way the hub does:
//   GET /api/models/{repo}/revision/{rev}[?blobs=true]  -> { sha, siblings: [{ rfilename, size, blobId, lfs }] }
//   GET|HEAD /{repo}/resolve/{rev}/{path}               -> small files: 200, ETag = git blob sha1;
//        LFS files (*.safetensors): 302 to /cdn/{sha256} with X-Linked-Etag / X-Linked-Size
//   GET /cdn/{sha256}                                   -> the bytes, with Range support (206 / 416)
// X-Repo-Commit on resolve answers; X-Error-Code on errors (RepoNotFound, RevisionNotFound,
// EntryNotFound, GatedRepo). Fault injection: drop the connection once after N bytes of a
// file, answer an error status once, serve a file with a flipped byte. Every request is logged.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';

export interface LoggedRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

interface FakeFile {
  bytes: Buffer;
  sha256: string;
  gitSha1: string;
  lfs: boolean;
}

export interface FakeRepo {
  sha: string;
  files: Map<string, FakeFile>;
  gated: boolean;
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly requests: LoggedRequest[] = [];
  /** Repo path -> bytes sent before the connection is dropped (once per entry). */
  readonly dropOnce = new Map<string, number>();
  /** Repo path -> HTTP status answered once instead of the file (a 5xx, say). */
  readonly failOnce = new Map<string, number>();
  /** Repo paths served with one byte changed. */
  readonly corrupt = new Set<string>();
  /** Tokens that open gated repos. */
  readonly tokens = new Set<string>();
  /** Include hashes and sizes in listings (`blobs=true`), as the real hub does. */
  listBlobs = true;
  /** Status for an unknown repo: the hub says 401 to anonymous callers, 404 otherwise. */
  unknownRepoStatus: 401 | 404 = 404;

  /**
   * The hub and its CDN listen on different ports, so that (as on the real hub) LFS redirects
   * leave the hub's origin.
   */
  private constructor(private readonly servers: http.Server[], readonly endpoint: string, readonly cdn: string) {}

  static async start(): Promise<FakeHub> {
    const servers = [http.createServer(), http.createServer()];
    const urls = await Promise.all(servers.map((s) => new Promise<string>((resolve) => {
      s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`));
    })));
    const hub = new FakeHub(servers, urls[0]!, urls[1]!);
    for (const s of servers) s.on('request', (req, res) => hub.handle(req, res));
    return hub;
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => {
      s.closeAllConnections();
      return new Promise<void>((resolve) => s.close(() => resolve()));
    }));
  }

  addRepo(id: string, files: Record<string, Buffer>, opts: { gated?: boolean } = {}): FakeRepo {
    const repo: FakeRepo = { sha: randomBytes(20).toString('hex'), files: new Map(), gated: opts.gated ?? false };
    for (const [name, bytes] of Object.entries(files)) {
      repo.files.set(name, {
        bytes,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        gitSha1: createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'),
        lfs: /\.(safetensors|bin|ckpt)$/.test(name),
      });
    }
    this.repos.set(id, repo);
    return repo;
  }

  /** Requests for the bytes of one repo file (resolve or CDN). */
  fileRequests(repoPath: string): LoggedRequest[] {
    const hashes = new Set([...this.repos.values()].map((r) => r.files.get(repoPath)?.sha256).filter(Boolean));
    return this.requests.filter((r) => r.method === 'GET' && (r.url.includes(`/resolve/`) && r.url.endsWith(`/${repoPath}`) || hashes.has(r.url.split('/cdn/')[1] ?? '')));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.endpoint);
    this.requests.push({ method: req.method ?? 'GET', url: url.pathname, range: req.headers.range, authorization: req.headers.authorization });
    const fail = (status: number, code?: string) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...(code ? { 'X-Error-Code': code } : {}) });
      res.end(JSON.stringify({ error: code ?? `HTTP ${status}` }));
    };
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return fail(this.unknownRepoStatus, 'RepoNotFound');
      const rev = decodeURIComponent(m[2]!);
      if (rev !== 'main' && rev !== repo.sha) return fail(404, 'RevisionNotFound');
      const blobs = this.listBlobs && url.searchParams.get('blobs') === 'true';
      const siblings = [...repo.files].map(([rfilename, f]) => blobs
        ? { rfilename, size: f.bytes.length, blobId: f.gitSha1, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.bytes.length, pointerSize: 134 } } : {}) }
        : { rfilename });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return void res.end(JSON.stringify({ id: m[1], sha: repo.sha, gated: repo.gated ? 'manual' : false, siblings }));
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(m[1]!);
      if (!repo) return fail(this.unknownRepoStatus, 'RepoNotFound');
      if (repo.gated && !this.tokens.has((req.headers.authorization ?? '').replace(/^Bearer /, ''))) return fail(401, 'GatedRepo');
      const rev = decodeURIComponent(m[2]!);
      if (rev !== 'main' && rev !== repo.sha) return fail(404, 'RevisionNotFound');
      const file = decodeURIComponent(m[3]!);
      const f = repo.files.get(file);
      if (!f) return fail(404, 'EntryNotFound');
      const failure = this.failOnce.get(file);
      if (failure) {
        this.failOnce.delete(file);
        return fail(failure);
      }
      const common = { 'X-Repo-Commit': repo.sha };
      if (f.lfs) {
        res.writeHead(302, { ...common, Location: `${this.cdn}/cdn/${f.sha256}`, 'X-Linked-Etag': `"${f.sha256}"`, 'X-Linked-Size': String(f.bytes.length), ETag: `"${f.gitSha1}"` });
        return void res.end();
      }
      return this.serveBytes(req, res, file, f, { ...common, ETag: `"${f.gitSha1}"` });
    }
    m = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (m) {
      for (const repo of this.repos.values()) {
        for (const [name, f] of repo.files) if (f.sha256 === m[1]) return this.serveBytes(req, res, name, f, { ETag: `"${f.sha256}"` });
      }
    }
    fail(404);
  }

  private serveBytes(req: http.IncomingMessage, res: http.ServerResponse, name: string, f: FakeFile, headers: Record<string, string>): void {
    let bytes = f.bytes;
    if (this.corrupt.has(name)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    const size = bytes.length;
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        return void res.end();
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${size - 1}/${size}`;
    }
    const body = bytes.subarray(start);
    res.writeHead(status, { ...headers, 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    const drop = this.dropOnce.get(name);
    if (drop !== undefined && drop < body.length) {
      this.dropOnce.delete(name);
      res.write(body.subarray(0, drop), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }
}

/** The pipeline files of a model folder as repo path -> bytes (the golden/ reference data left out). */
export function readModelFiles(dir: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel))) {
      const relPath = rel ? `${rel}/${name}` : name;
      if (relPath === 'golden') continue;
      if (statSync(path.join(dir, relPath)).isDirectory()) walk(relPath);
      else out[relPath] = readFileSync(path.join(dir, relPath));
    }
  };
  walk('');
  return out;
}

/** A safetensors file with every F32 tensor converted to F16 (diffusers' fp16 variant). */
export function toFp16Safetensors(file: string, tmpFile: string): Buffer {
  const st = SafetensorsFile.open(file);
  const tensors: Array<[string, TensorToWrite]> = [...st.tensors.values()].map((t) => {
    if (t.dtype !== 'F32') return [t.name, { dtype: t.dtype, shape: t.shape, data: new Uint8Array(st.readBytes(t.name)) }];
    const f32 = st.readFloat32(t.name);
    const half = new Uint16Array(f32.length);
    for (let i = 0; i < f32.length; i++) half[i] = floatToHalf(f32[i]!);
    return [t.name, { dtype: 'F16', shape: t.shape, data: half }];
  });
  writeSafetensors(tmpFile, tensors);
  return readFileSync(tmpFile);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half bits, round to nearest (ties up); enough for test weights. */
function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - exp;
    return sign | ((full >> shift) + ((full >> (shift - 1)) & 1));
  }
  return (sign | (exp << 10) | (mant >> 13)) + ((mant >> 12) & 1);
}
