// `pullModel`: fetches a Stable Diffusion pipeline from the Hugging Face hub (or the mirror
// in HF_ENDPOINT) into the standard HF cache, so Python tools share it with us and a model
// they already downloaded costs nothing. Only the files the pipeline needs are fetched
// (pipeline_files.ts); blobs already in the cache with the published size are reused;
// partial downloads resume; every byte is checked against the hub's hash (download.ts).
import { mkdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
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
import { lockRepo } from './pull_lock.ts';
import { ProgressMeter, type PullProgress } from './pull_progress.ts';

import { processEnv, type Env } from '../config.ts';

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
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...opts.retry };
  const { config, revision, listing, plan, repo } = await planPull(repoId, opts, policy);
  const commit = listing.sha;
  for (const note of plan.notes) opts.onMessage?.(note);

  mkdirSync(path.join(repo.dir, 'blobs'), { recursive: true });
  const release = await lockRepo(repo);
  try {
    const fetcher = new Fetcher(repo, commit, { config, repoId, revision: commit }, policy, opts);
    // model_index.json and weight maps first: the first says whether the repo is a pipeline
    // we can run (before gigabytes of weights), the others name the shards to fetch.
    const first = plan.files.filter((s) => s.rfilename === 'model_index.json' || isWeightMap(s.rfilename));
    const rest = plan.files.filter((s) => !first.includes(s));
    const bySibling = new Map(listing.siblings.map((s) => [s.rfilename, s]));
    for (const f of await fetcher.fetchListed(first)) {
      const json: unknown = JSON.parse(await readFile(repo.blobPath(f.hash), 'utf8'));
      rest.push(...filesNamedBy(f.path, json, bySibling, repoId, revision));
    }
    await fetcher.fetchListed(rest);
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

/**
 * The listing of the revision and the files a pull of it fetches. Refuses what is not a hub
 * model id, offline mode, and repositories that are not a Stable Diffusion pipeline.
 */
async function planPull(repoId: string, opts: Pick<PullOptions, 'revision' | 'precision' | 'env' | 'signal'>, policy: RetryPolicy) {
  const env = opts.env ?? processEnv();
  const revision = opts.revision ?? 'main';
  if (!isRepoId(repoId)) throw new HubError('not-found', `"${repoId}" is not a hub model id (expected org/name, e.g. stabilityai/stable-diffusion-2-1-base)`);
  const config = hubConfig(env);
  if (isOfflineMode(env)) throw new HubError('offline', `HF_HUB_OFFLINE is set: not contacting ${config.endpoint} to pull ${repoId}`);
  const listing = await fetchListing(config, repoId, revision, policy, opts.signal);
  if (!listing.siblings.some((s) => s.rfilename === 'model_index.json')) {
    throw new HubError('not-a-pipeline', `${repoId} (revision ${revision}) has no model_index.json: it is not a diffusers pipeline repository`);
  }
  const plan = planPipelineFiles(listing.siblings, opts.precision ?? 'fp16');
  if (plan.missing.length) {
    throw new HubError('not-a-pipeline', `${repoId} (revision ${revision}) lacks files a Stable Diffusion pipeline needs: ${plan.missing.join(', ')}`);
  }
  return { config, revision, listing, plan, repo: new CachedRepo(hubCacheDir(env), repoId) };
}

/**
 * What a file fetched first asks for: model_index.json, nothing (or a refusal of a pipeline
 * we cannot run); a weight map, the shards it names.
 */
function filesNamedBy(file: string, json: unknown, bySibling: Map<string, Sibling>, repoId: string, revision: string): Sibling[] {
  if (file === 'model_index.json') {
    const problem = pipelineClassProblem(json);
    if (problem) throw new HubError('not-a-pipeline', `${repoId} (revision ${revision}): ${problem}`);
    return [];
  }
  return weightMapShards(file, json).map((name) => {
    const shard = path.posix.join(path.posix.dirname(file), name);
    const sibling = bySibling.get(shard);
    if (!sibling) throw new HubError('not-a-pipeline', `${file} names ${shard}, which ${repoId} does not have`);
    return sibling;
  });
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
  const { listing, plan, repo } = await planPull(repoId, opts, { ...DEFAULT_RETRY, ...opts.retry });
  const files = [...plan.files];
  for (const weightMap of plan.files.filter((f) => isWeightMap(f.rfilename))) {
    files.push(...listing.siblings.filter((s) => isShardOf(weightMap.rfilename, s.rfilename)));
  }
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

  /** Describes listed files (size, hash) and fetches them; returns their descriptions. */
  async fetchListed(files: Sibling[]): Promise<PlannedFile[]> {
    const { config, repoId } = this.ctx;
    const planned = await Promise.all(files.map((s) => describe(s, config, repoId, this.commit, this.opts.signal)));
    await this.fetch(planned);
    return planned;
  }

  private async fetch(files: PlannedFile[]): Promise<void> {
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
