// `tokenflow models list | pull | verify`: the models the daemon can use, fetching one from
// the Hugging Face hub into the HF cache, and checking a model folder before use.
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { listModels, locateModel, type ModelEntry } from '../hub/catalog.ts';
import { hubCacheDir } from '../hub/hf_cache.ts';
import { fetchListing, hubConfig } from '../hub/hub_client.ts';
import { pullModel } from '../hub/pull.ts';
import type { PullProgress } from '../hub/pull_progress.ts';
import { inspectModel, type ModelReport } from '../hub/validate.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';

const help = `Usage:
  tokenflow models list [--json]
  tokenflow models pull <org/name> [--revision R] [--fp16 | --fp32]
  tokenflow models verify <dir | org/name[@revision] | tiny-sd15> [--hashes] [--json]

list    The models the daemon can use (pass the ID as --model): the bundled tiny model,
        Stable Diffusion pipelines in the Hugging Face cache, and the folders in
        TOKENFLOW_MODELS. Shows precision, size and whether each one is usable.
pull    Downloads a Stable Diffusion 1.x/2.x pipeline from the hub into the Hugging Face
        cache: only the files the pipeline needs, fp16 weights where the repo has them
        (--fp32 for full precision). Files already in the cache are reused, interrupted
        downloads resume, every file is checked against the hub's published hash.
        Example: tokenflow models pull stabilityai/stable-diffusion-2-1-base
verify  Checks a model folder (or a cached hub model) before use: configs, weight files,
        weight shapes. --hashes also re-hashes every file against the hub's hashes.

Environment:
  HF_HOME, HF_HUB_CACHE   where the Hugging Face cache is (default ~/.cache/huggingface/hub)
  HF_ENDPOINT             hub address (default https://huggingface.co), e.g. a mirror
  HF_TOKEN                access token, for gated or private models
  HF_HUB_OFFLINE=1        never contact the hub
  TOKENFLOW_MODELS        extra model folders, separated by "${path.delimiter}"`;

export const command: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      json: { type: 'boolean' },
      revision: { type: 'string' },
      fp16: { type: 'boolean' },
      fp32: { type: 'boolean' },
      hashes: { type: 'boolean' },
    }, 2);
    const [sub, target] = positionals;
    switch (sub) {
      case 'list':
        if (target) throw new UsageError(`unexpected argument "${target}"`);
        return list(values.json);
      case 'pull':
        if (!target) throw new UsageError('pull needs a hub model id, e.g. stabilityai/stable-diffusion-2-1-base');
        if (values.fp16 && values.fp32) throw new UsageError('--fp16 and --fp32 exclude each other');
        return pull(target, values.revision, values.fp32 ? 'fp32' : 'fp16');
      case 'verify':
        if (!target) throw new UsageError('verify needs a model folder or hub model id');
        return verify(target, values.hashes, values.json);
      case undefined:
        throw new UsageError('missing sub-command (list, pull or verify)');
      default:
        throw new UsageError(`unknown sub-command "${sub}" (list, pull or verify)`);
    }
  },
};

async function list(json: boolean): Promise<number> {
  const models = await listModels();
  if (json) {
    console.log(JSON.stringify(models, null, 2));
    return 0;
  }
  const rows = models.map((m) => [m.id, m.precision ?? '-', formatBytes(m.sizeBytes), m.ok ? 'ok' : 'INVALID', m.path]);
  const header = ['ID', 'PRECISION', 'SIZE', 'STATUS', 'PATH'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  console.log(line(header));
  models.forEach((m, i) => {
    console.log(line(rows[i]!));
    for (const p of problemsToShow(m)) console.log(`    ${p}`);
  });
  console.log(`\nHugging Face cache: ${hubCacheDir()}`);
  return 0;
}

function problemsToShow(m: ModelEntry): string[] {
  const shown = m.problems.slice(0, 3);
  if (m.problems.length > 3) shown.push(`... and ${m.problems.length - 3} more (tokenflow models verify ${m.id})`);
  return shown;
}

async function pull(repoId: string, revision: string | undefined, precision: 'fp16' | 'fp32'): Promise<number> {
  const line = new ProgressLine(process.stderr);
  const result = await pullModel(repoId, {
    revision,
    precision,
    onProgress: (p) => line.update(p),
    onMessage: (m) => line.message(m),
  }).finally(() => line.finish());
  const reused = result.files.filter((f) => f.reused).length;
  console.log(`${result.repoId}@${result.commit.slice(0, 12)}: ${result.files.length} files, ${result.files.length - reused} downloaded (${formatBytes(result.downloadedBytes)}), ${reused} already in the cache`);
  if (result.files.some((f) => f.placed === 'copy')) console.log('(symlinks are not available here: snapshot files are copies of the cache blobs)');
  const report = await inspectModel(result.snapshotDir);
  if (!report.ok) {
    console.error(formatReport(report));
    return 1;
  }
  console.log(result.snapshotDir);
  return 0;
}

async function verify(target: string, hashes: boolean, json: boolean): Promise<number> {
  const { dir, hub } = locateModel(target);
  // Snapshot files that are copies (no symlinks on this system) carry no blob name to check against.
  const published = hashes && hub && !lstatSync(path.join(dir, 'model_index.json'), { throwIfNoEntry: false })?.isSymbolicLink()
    ? await publishedHashes(hub.repoId, path.basename(dir))
    : undefined;
  const report = await inspectModel(dir, { hashes, publishedHashes: published });
  if (json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatReport(report));
  return report.ok ? 0 : 1;
}

/**
 * The hub's hashes for a cached commit, for snapshot files that are copies rather than links
 * to named blobs. Unreachable hub: no published hashes (those files are reported unchecked).
 */
async function publishedHashes(repoId: string, commit: string): Promise<Map<string, string> | undefined> {
  try {
    const listing = await fetchListing(hubConfig(), repoId, commit, { attempts: 1, baseDelayMs: 0, stallTimeoutMs: 15_000 });
    return new Map(listing.siblings.flatMap((s) => {
      const hash = s.lfs?.sha256 ?? s.blobId;
      return hash ? [[s.rfilename, hash] as [string, string]] : [];
    }));
  } catch {
    return undefined;
  }
}

export function formatReport(r: ModelReport): string {
  const lines = [`model folder: ${r.dir}`];
  const facts = [r.pipelineClass, r.precision && `${r.precision} weights`, formatBytes(r.sizeBytes)].filter(Boolean);
  lines.push(`  ${facts.join(', ')}`);
  if (r.hashes) {
    const { checked, unchecked } = r.hashes;
    lines.push(checked === 0 && unchecked.length
      ? '  hashes: not checked (no published hashes: only Hugging Face cache snapshots have them)'
      : `  hashes: ${checked} files match their published hash${unchecked.length ? `; no published hash for ${unchecked.join(', ')}` : ''}`);
  }
  if (r.ok) lines.push('  ok: usable');
  else lines.push(`  NOT usable (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}):`, ...r.problems.map((p) => `  - ${p}`));
  return lines.join('\n');
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function formatProgress(p: PullProgress): string {
  const pct = p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 100;
  const rate = p.bytesPerSecond > 0 ? `${formatBytes(Math.round(p.bytesPerSecond))}/s` : '-';
  const eta = p.etaSeconds === null ? '' : `  ETA ${formatDuration(p.etaSeconds)}`;
  return `[${p.fileIndex}/${p.fileCount}] ${p.file}  ${formatBytes(p.fileBytes)}/${formatBytes(p.fileTotal)}  total ${pct}% of ${formatBytes(p.bytesTotal)}  ${rate}${eta}`;
}

/**
 * The pull's progress on stderr: one line rewritten in place on a terminal; on a pipe or log,
 * a line when a file starts or ends and at most every 10 s in between.
 */
class ProgressLine {
  private lastFile = '';
  private lastPrint = 0;
  private open = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: PullProgress): void {
    const text = formatProgress(p);
    if (this.out.isTTY) {
      const width = (this.out.columns || 120) - 1;
      this.out.write(`\r${text.slice(0, width)}\x1b[K`);
      this.open = true;
      return;
    }
    const now = Date.now();
    const fileDone = p.fileBytes === p.fileTotal;
    if (p.file !== this.lastFile || fileDone || now - this.lastPrint >= 10_000) {
      this.out.write(`${text}\n`);
      this.lastFile = fileDone ? '' : p.file;
      this.lastPrint = now;
    }
  }

  message(text: string): void {
    this.finish();
    this.out.write(`${text}\n`);
  }

  finish(): void {
    if (this.open) this.out.write('\n');
    this.open = false;
  }
}
