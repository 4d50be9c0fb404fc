// `pullModel`: fetches a Stable Diffusion pipeline from the Hugging Face hub (or the mirror
// in HF_ENDPOINT) into the standard HF cache, so Python tools share it with us and a model
// they already downloaded costs nothing. Only the files the pipeline needs are fetched
// (pipeline_files.ts); blobs already in the cache with the published size are reused;
// partial downloads resume; every byte is checked against the hub's hash (download.ts).
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { downloadBlob } from './download.ts';
import { hashKindOf, type HashKind } from './file_hash.ts';
import { CachedRepo, hubCacheDir, isCommitHash, isRepoId } from './hf_cache.ts';
import {
  authHeaders, DEFAULT_RETRY, fetchListing, HubError, hubConfig, hubHttpError, isOfflineMode, resolveUrl,
  type HubConfig, type RetryPolicy, type Sibling,
} from './hub_client.ts';
import { planPipelineFiles } from './pipeline_files.ts';
import { isShardOf, isWeightMap, weightMapShards, type Precision } from '../models/diffusers_layout.ts';
import { pipelineClassProblem } from './validate.ts';
import { processAlive } from '../util/process.ts';

type Env = Record<string, string | undefined>;

export interface PullProgress {
  /** The repo path of the file being downloaded. */
  file: string;
  /** 1-based index among the files that need downloading, and their count. */
  fileIndex: number;
  fileCount: number;
  fileBytes: number;
  fileTotal: number;
  /** Over all files to download (bytes already on disk from an earlier attempt count as done). */
  bytesDone: number;
  bytesTotal: number;
  /** Transfer rate over the last few seconds; 0 until measured. */
  bytesPerSecond: number;
  /** Seconds left at that rate, or null while the rate is unknown. */
  etaSeconds: number | null;
}

export interface PullOptions {
  revision?: string;
  /** Preferred weight precision; falls back to the other one when the repo lacks it. Default fp16. */
  precision?: Precision;
  env?: Env;
  onProgress?(p: PullProgress): void;
  /** Human-readable events (retries, fallbacks) for a log. */
  onMessage?(message: string): void;
  signal?: AbortSignal;
  retry?: Partial<RetryPolicy>;
  /** Minimum interval between progress callbacks (a file's start and end are always reported). */
  progressIntervalMs?: number;
}

export interface PulledFile {
  path: string;
  blob: string;
  size: number;
  /** Already in the cache (not downloaded by this pull). */
  reused: boolean;
  placed: 'link' | 'copy';
}

export interface PullResult {
  repoId: string;
  revision: string;
  commit: string;
  snapshotDir: string;
  files: PulledFile[];
  downloadedBytes: number;
  notes: string[];
}

interface PlannedFile {
  path: string;
  size: number;
  hash: string;
  hashKind: HashKind;
}

export async function pullModel(repoId: string, opts: PullOptions = {}): Promise<PullResult> {
  const env = opts.env ?? process.env;
  const revision = opts.revision ?? 'main';
  const precision = opts.precision ?? 'fp16';
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  if (!isRepoId(repoId)) throw new HubError('not-found', `"${repoId}" is not a hub model id (expected org/name, e.g. stabilityai/stable-diffusion-2-1-base)`);
  const config = hubConfig(env);
  if (isOfflineMode(env)) throw new HubError('offline', `HF_HUB_OFFLINE is set: not contacting ${config.endpoint} to pull ${repoId}`);
  const repo = new CachedRepo(hubCacheDir(env), repoId);

  const listing = await fetchListing(config, repoId, revision, policy, opts.signal);
  const commit = listing.sha;
  if (!listing.siblings.some((s) => s.rfilename === 'model_index.json')) {
    throw new HubError('not-a-pipeline', `${repoId} (revision ${revision}) has no model_index.json: it is not a diffusers pipeline repository`);
  }
  const plan = planPipelineFiles(listing.siblings, precision);
  if (plan.missing.length) {
    throw new HubError('not-a-pipeline', `${repoId} (revision ${revision}) lacks files a Stable Diffusion pipeline needs: ${plan.missing.join(', ')}`);
  }
  for (const note of plan.notes) opts.onMessage?.(note);

  mkdirSync(path.join(repo.dir, 'blobs'), { recursive: true });
  const release = await lockRepo(repo);
  try {
    const fetcher = new Fetcher(repo, commit, { config, repoId, revision: commit }, policy, opts);
    const describeAll = (files: Sibling[]) => Promise.all(files.map((s) => describe(s, config, repoId, commit, opts.signal)));
    // model_index.json and shard indexes first: the first says whether the repo is a pipeline
    // we can run (before gigabytes of weights), the others name the shards to fetch.
    const first = await describeAll(plan.files.filter((s) => s.rfilename === 'model_index.json' || isWeightMap(s.rfilename)));
    await fetcher.fetch(first);
    const rest = plan.files.filter((s) => !first.some((f) => f.path === s.rfilename));
    const bySibling = new Map(listing.siblings.map((s) => [s.rfilename, s]));
    for (const f of first) {
      const json: unknown = JSON.parse(await readFile(repo.blobPath(f.hash), 'utf8'));
      if (f.path === 'model_index.json') {
        const problem = pipelineClassProblem(json);
        if (problem) throw new HubError('not-a-pipeline', `${repoId} (revision ${revision}): ${problem}`);
        continue;
      }
      for (const shard of weightMapShards(f.path, json).map((name) => path.posix.join(path.posix.dirname(f.path), name))) {
        const sibling = bySibling.get(shard);
        if (!sibling) throw new HubError('not-a-pipeline', `${f.path} names ${shard}, which ${repoId} does not have`);
        rest.push(sibling);
      }
    }
    await fetcher.fetch(await describeAll(rest));
    if (!isCommitHash(revision)) repo.writeRef(revision, commit);
    return {
      repoId,
      revision,
      commit,
      snapshotDir: repo.snapshotDir(commit),
      files: fetcher.pulled,
      downloadedBytes: fetcher.downloadedBytes,
      notes: plan.notes,
    };
  } finally {
    await release();
  }
}

export interface PullNeeds {
  commit: string;
  /** Bytes still to download: planned files not yet in the cache, less their partial downloads. */
  bytesNeeded: number;
  /** Full sizes of the files not yet in the cache (partial downloads counted whole). */
  bytesToFetch: number;
  /** Bytes of the whole pull (including what is already in the cache). */
  bytesTotal: number;
  /** The folder the blobs go to (created if missing), for the free-space check. */
  blobsDir: string;
}

/**
 * What a pull would still download, from the listing alone (no file is fetched): the planned
 * files, plus the shards of sharded weights (named like `<base>-00001-of-00002.safetensors`
 * beside their index). Files the listing gives no size for count as 0.
 */
export async function pullNeeds(repoId: string, opts: Pick<PullOptions, 'revision' | 'precision' | 'env' | 'signal' | 'retry'> = {}): Promise<PullNeeds> {
  const env = opts.env ?? process.env;
  const revision = opts.revision ?? 'main';
  if (!isRepoId(repoId)) throw new HubError('not-found', `"${repoId}" is not a hub model id (expected org/name, e.g. stabilityai/stable-diffusion-2-1-base)`);
  const config = hubConfig(env);
  if (isOfflineMode(env)) throw new HubError('offline', `HF_HUB_OFFLINE is set: not contacting ${config.endpoint} to pull ${repoId}`);
  const listing = await fetchListing(config, repoId, revision, { ...DEFAULT_RETRY, ...opts.retry }, opts.signal);
  const plan = planPipelineFiles(listing.siblings, opts.precision ?? 'fp16');
  if (plan.missing.length) {
    throw new HubError('not-a-pipeline', `${repoId} (revision ${revision}) lacks files a Stable Diffusion pipeline needs: ${plan.missing.join(', ')}`);
  }
  const files = [...plan.files];
  for (const weightMap of plan.files.filter((f) => isWeightMap(f.rfilename))) {
    files.push(...listing.siblings.filter((s) => isShardOf(weightMap.rfilename, s.rfilename)));
  }
  const repo = new CachedRepo(hubCacheDir(env), repoId);
  const blobsDir = path.join(repo.dir, 'blobs');
  mkdirSync(blobsDir, { recursive: true });
  let bytesNeeded = 0;
  let bytesToFetch = 0;
  let bytesTotal = 0;
  for (const f of files) {
    const size = f.lfs?.size ?? f.size ?? 0;
    const hash = f.lfs?.sha256 ?? f.blobId;
    bytesTotal += size;
    if (hash !== undefined && blobSize(repo.blobPath(hash)) === size) continue;
    bytesToFetch += size;
    bytesNeeded += hash === undefined ? size : Math.max(0, size - (blobSize(`${repo.blobPath(hash)}.incomplete`) ?? 0));
  }
  return { commit: listing.sha, bytesNeeded, bytesToFetch, bytesTotal, blobsDir };
}

/**
 * Size and hash of a listed file. The hub's listing carries them (`lfs.sha256` for LFS files,
 * `blobId` = git sha1 for the rest); for a mirror whose listing does not, a HEAD request on
 * the resolve URL gives them (`X-Linked-Etag`/`ETag`, `X-Linked-Size`/`Content-Length`).
 */
async function describe(s: Sibling, config: HubConfig, repoId: string, commit: string, signal?: AbortSignal): Promise<PlannedFile> {
  if (s.lfs?.sha256 && s.lfs.size !== undefined) {
    return { path: s.rfilename, size: s.lfs.size, hash: s.lfs.sha256, hashKind: 'sha256' };
  }
  if (s.blobId && s.size !== undefined && hashKindOf(s.blobId) === 'git-sha1') {
    return { path: s.rfilename, size: s.size, hash: s.blobId, hashKind: 'git-sha1' };
  }
  const url = resolveUrl(config, repoId, commit, s.rfilename);
  const res = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: { 'Accept-Encoding': 'identity', ...authHeaders(config, url) }, signal });
  if (res.status >= 400) throw hubHttpError(res, { config, repoId, revision: commit, file: s.rfilename });
  const etag = (res.headers.get('x-linked-etag') ?? res.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  const size = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length'));
  const kind = hashKindOf(etag);
  if (!kind || !Number.isFinite(size)) {
    throw new HubError('bad-response', `${config.endpoint} gives no content hash for ${repoId}/${s.rfilename} (ETag "${etag}"): cannot verify the download`);
  }
  return { path: s.rfilename, size, hash: etag, hashKind: kind };
}

/** Downloads planned files in batches, with one progress meter over all of them. */
class Fetcher {
  readonly pulled: PulledFile[] = [];
  downloadedBytes = 0;
  private readonly progress: ProgressMeter;

  constructor(
    private readonly repo: CachedRepo,
    private readonly commit: string,
    private readonly ctx: { config: HubConfig; repoId: string; revision: string },
    private readonly policy: RetryPolicy,
    private readonly opts: PullOptions,
  ) {
    this.progress = new ProgressMeter(opts.onProgress, opts.progressIntervalMs ?? 200);
  }

  async fetch(files: PlannedFile[]): Promise<void> {
    const toFetch = files.filter((f) => blobSize(this.repo.blobPath(f.hash)) !== f.size);
    this.progress.plan(toFetch);
    for (const f of files) {
      const reused = !toFetch.includes(f);
      if (!reused) await this.download(f);
      this.pulled.push({ path: f.path, blob: f.hash, size: f.size, reused, placed: this.repo.placeSnapshotFile(this.commit, f.path, f.hash) });
    }
  }

  private async download(f: PlannedFile): Promise<void> {
    this.progress.startFile(f);
    await downloadBlob(
      {
        url: resolveUrl(this.ctx.config, this.ctx.repoId, this.commit, f.path),
        blobPath: this.repo.blobPath(f.hash),
        size: f.size,
        hashKind: f.hashKind,
        hash: f.hash,
        ctx: { ...this.ctx, file: f.path },
      },
      {
        policy: this.policy,
        signal: this.opts.signal,
        onBytes: (n, resumed) => {
          if (!resumed) this.downloadedBytes += n;
          this.progress.add(n, resumed);
        },
        onRetry: (err, attempt, delay) => this.opts.onMessage?.(`${f.path}: ${err instanceof Error ? err.message : String(err)}; retry ${attempt} in ${(delay / 1000).toFixed(1)} s`),
      },
    );
    this.progress.endFile();
  }
}

function blobSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

/** Aggregates byte counts into throttled PullProgress reports with a windowed rate. */
class ProgressMeter {
  private fileCount = 0;
  private bytesTotal = 0;
  private bytesDone = 0;
  private file?: PlannedFile;
  private fileIndex = 0;
  private fileBytes = 0;
  private lastEmit = 0;
  /** (time ms, cumulative transferred bytes) samples of the last few seconds. */
  private samples: Array<[number, number]> = [];
  private transferred = 0;

  constructor(private readonly onProgress: PullOptions['onProgress'], private readonly intervalMs: number) {}

  /** Adds files about to be downloaded to the totals. */
  plan(files: PlannedFile[]): void {
    this.fileCount += files.length;
    this.bytesTotal += files.reduce((a, f) => a + f.size, 0);
  }

  startFile(f: PlannedFile): void {
    this.file = f;
    this.fileIndex++;
    this.fileBytes = 0;
    this.emit(true);
  }

  add(n: number, resumed: boolean): void {
    this.bytesDone += n;
    this.fileBytes += n;
    if (!resumed) {
      this.transferred += n;
      const now = Date.now();
      this.samples.push([now, this.transferred]);
      while (this.samples.length > 2 && now - this.samples[0]![0] > 5000) this.samples.shift();
    }
    this.emit(false);
  }

  endFile(): void {
    this.emit(true);
  }

  private rate(): number {
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0]!;
    const [t1, b1] = this.samples[this.samples.length - 1]!;
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }

  private emit(force: boolean): void {
    if (!this.onProgress || !this.file) return;
    const now = Date.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    const rate = this.rate();
    this.onProgress({
      file: this.file.path,
      fileIndex: this.fileIndex,
      fileCount: this.fileCount,
      fileBytes: this.fileBytes,
      fileTotal: this.file.size,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      bytesPerSecond: rate,
      etaSeconds: rate > 0 ? (this.bytesTotal - this.bytesDone) / rate : null,
    });
  }
}

/** Repos being pulled by this process (the lock file below covers other processes). */
const pullingHere = new Set<string>();

/**
 * One pull per repository at a time, across processes (the daemon and the CLI may both pull):
 * a lock file holding the owner's pid, created atomically (hard link of a finished temp file)
 * and taken over when that process is gone.
 */
async function lockRepo(repo: CachedRepo): Promise<() => Promise<void>> {
  const lockDir = path.join(repo.cacheDir, '.locks', path.basename(repo.dir));
  const lockFile = path.join(lockDir, 'tokenflow-pull.lock');
  const busy = (pid: number) => new HubError('busy', `${repo.repoId} is already being pulled (process ${pid}); wait for it to finish or stop it`);
  if (pullingHere.has(lockFile)) throw busy(process.pid);
  pullingHere.add(lockFile);
  const tmp = `${lockFile}.${process.pid}.tmp`;
  try {
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(tmp, String(process.pid));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, lockFile);
        return async () => {
          pullingHere.delete(lockFile);
          await rm(lockFile, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number(readFileSyncSafe(lockFile));
        if (owner && owner !== process.pid && processAlive(owner)) throw busy(owner);
        // The owner is gone (crashed or killed): take the lock over.
        rmSync(lockFile, { force: true });
      }
    }
    throw new HubError('busy', `${repo.repoId}: could not take the pull lock ${lockFile}`);
  } catch (err) {
    pullingHere.delete(lockFile);
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readFileSyncSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
