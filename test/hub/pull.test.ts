import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { resolveModel } from '../../companion/hub/catalog.ts';
import { hubCacheDir } from '../../companion/hub/hf_cache.ts';
import { HubError } from '../../companion/hub/hub_client.ts';
import { pullModel } from '../../companion/hub/pull.ts';
import type { PullProgress } from '../../companion/hub/pull_progress.ts';
import { inspectModel } from '../../companion/hub/validate.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../companion/runtime/safetensors.ts';
import { FakeHub, readModelFiles, toFp16Safetensors } from '../helpers/fake_hub.ts';

const FIXTURE = 'test/fixtures/tiny-sd15';
const REPO = 'tiny/sd15';
const UNET = 'unet/diffusion_pytorch_model.safetensors';
const FAST_RETRY = { attempts: 3, baseDelayMs: 10, stallTimeoutMs: 5000 };
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'tokenflow-hub-'));
const modelFiles = readModelFiles(FIXTURE);
let hub: FakeHub;
let homes = 0;

before(async () => {
  hub = await FakeHub.start();
  // Files a real SD repo also carries, which a pull must leave alone.
  const decoys = {
    'README.md': Buffer.from('# tiny'),
    'unet/diffusion_pytorch_model.bin': Buffer.alloc(1000, 1),
    'safety_checker/model.safetensors': Buffer.alloc(1000, 2),
    'v1-5-pruned-emaonly.ckpt': Buffer.alloc(1000, 3),
    'feature_extractor/preprocessor_config.json': Buffer.from('{}'),
  };
  hub.addRepo(REPO, { ...modelFiles, ...decoys });
  hub.addRepo('tiny/gated', modelFiles, { gated: true });
  hub.tokens.add('hf_good');
  const fp16 = Object.fromEntries(['unet/diffusion_pytorch_model', 'vae/diffusion_pytorch_model', 'text_encoder/model'].map((base) =>
    [`${base}.fp16.safetensors`, toFp16Safetensors(path.join(FIXTURE, `${base}.safetensors`), path.join(tmpRoot, 'fp16.safetensors'))]));
  hub.addRepo('tiny/both', { ...modelFiles, ...fp16 });
});

after(async () => {
  await hub.close();
  rmSync(tmpRoot, { recursive: true, force: true });
});

/** A fresh HF_HOME pointing at the fake hub. */
function freshEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { HF_HOME: path.join(tmpRoot, `home${++homes}`), HF_ENDPOINT: hub.endpoint, ...extra };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const repoDir = (env: Record<string, string>, repo = REPO) => path.join(hubCacheDir(env), `models--${repo.replace('/', '--')}`);

test('pull puts only the pipeline files into the HF cache layout, verified and linked', async () => {
  const env = freshEnv();
  const progress: PullProgress[] = [];
  const result = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY, onProgress: (p) => progress.push(p), progressIntervalMs: 0 });
  const dir = repoDir(env);
  const commit = hub.repos.get(REPO)!.sha;
  assert.equal(result.commit, commit);
  assert.equal(readFileSync(path.join(dir, 'refs', 'main'), 'utf8'), commit);
  assert.equal(result.snapshotDir, path.join(dir, 'snapshots', commit));

  const link = path.join(result.snapshotDir, UNET);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readlinkSync(link), path.join('..', '..', '..', 'blobs', sha256(modelFiles[UNET]!)));
  assert.deepEqual(readFileSync(link), modelFiles[UNET]);
  // Small files are named by their git blob sha1, as the hub's ETag names them.
  const gitSha1 = createHash('sha1').update(`blob ${modelFiles['model_index.json']!.length}\0`).update(modelFiles['model_index.json']!).digest('hex');
  assert.equal(path.basename(readlinkSync(path.join(result.snapshotDir, 'model_index.json'))), gitSha1);

  const expected = Object.keys(modelFiles).sort();
  assert.deepEqual(result.files.map((f) => f.path).sort(), expected);
  assert.equal(readdirSync(path.join(dir, 'blobs')).length, expected.length, 'no .incomplete or extra blobs left');
  for (const decoy of ['README.md', 'unet/diffusion_pytorch_model.bin', 'safety_checker/model.safetensors', 'v1-5-pruned-emaonly.ckpt']) {
    assert.equal(hub.fileRequests(decoy).length, 0, `${decoy} must not be fetched`);
    assert.ok(!existsSync(path.join(result.snapshotDir, decoy)));
  }
  const total = expected.reduce((a, f) => a + modelFiles[f]!.length, 0);
  assert.equal(result.downloadedBytes, total);
  const last = progress.at(-1)!;
  assert.equal(last.bytesDone, total);
  assert.equal(last.bytesTotal, total);
  assert.equal(last.fileIndex, last.fileCount);
  assert.ok(progress.every((p, i) => i === 0 || p.bytesDone >= progress[i - 1]!.bytesDone));

  const report = await inspectModel(result.snapshotDir, { hashes: true });
  assert.deepEqual(report.problems, []);
  assert.equal(report.hashes!.checked, expected.length);
  assert.equal(await resolveModel(REPO, { env }), result.snapshotDir);

  // A second pull downloads nothing.
  const before = hub.requests.length;
  const again = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY });
  assert.equal(again.downloadedBytes, 0);
  assert.ok(again.files.every((f) => f.reused));
  assert.deepEqual(hub.requests.slice(before).map((r) => r.url), [`/api/models/${REPO}/revision/main`]);

  // Blobs from someone else's download (snapshots and refs gone) are reused as well.
  rmSync(path.join(dir, 'snapshots'), { recursive: true });
  rmSync(path.join(dir, 'refs'), { recursive: true });
  const relinked = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY });
  assert.equal(relinked.downloadedBytes, 0);
  assert.deepEqual(readFileSync(path.join(relinked.snapshotDir, UNET)), modelFiles[UNET]);
});

test('pull resumes a file after the connection drops, with a Range request', async () => {
  const env = freshEnv();
  hub.dropOnce.set(UNET, 2_000_000);
  const mark = hub.requests.length;
  const retries: string[] = [];
  const result = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY, onMessage: (m) => retries.push(m) });
  const unetRequests = hub.requests.slice(mark).filter((r) => r.url === `/cdn/${sha256(modelFiles[UNET]!)}`);
  assert.equal(unetRequests.length, 2);
  assert.equal(unetRequests[0]!.range, undefined);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(unetRequests[1]!.range ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= 2_000_000, `resumed at ${unetRequests[1]!.range}`);
  assert.match(retries.join('\n'), new RegExp(`${UNET}: .*retry 1`));
  assert.deepEqual(readFileSync(path.join(result.snapshotDir, UNET)), modelFiles[UNET]);
  const total = Object.values(modelFiles).reduce((a, b) => a + b.length, 0);
  assert.equal(result.downloadedBytes, total, 'the bytes before the drop are not fetched twice');
});

test('5xx answers are retried with back-off', async () => {
  const env = freshEnv();
  hub.failOnce.set('unet/config.json', 503);
  hub.failOnce.set(UNET, 502);
  const messages: string[] = [];
  const result = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY, onMessage: (m) => messages.push(m) });
  assert.deepEqual(messages.filter((m) => m.includes('HTTP 5')), [
    `unet/config.json: ${hub.endpoint} answered HTTP 503 for unet/config.json; retry 1 in 0.0 s`,
    `${UNET}: ${hub.endpoint} answered HTTP 502 for ${UNET}; retry 1 in 0.0 s`,
  ]);
  assert.deepEqual(readFileSync(path.join(result.snapshotDir, UNET)), modelFiles[UNET]);
});

test('where symlinks are refused, snapshot files are copies of the blobs', async (t) => {
  t.mock.method(fs, 'symlinkSync', () => {
    throw Object.assign(new Error('EPERM: operation not permitted, symlink'), { code: 'EPERM' });
  });
  syncBuiltinESMExports();
  try {
    const result = await pullModel(REPO, { env: freshEnv(), precision: 'fp32', retry: FAST_RETRY });
    assert.ok(result.files.every((f) => f.placed === 'copy'));
    const file = path.join(result.snapshotDir, UNET);
    assert.ok(!lstatSync(file).isSymbolicLink());
    assert.deepEqual(readFileSync(file), modelFiles[UNET]);
    assert.deepEqual((await inspectModel(result.snapshotDir)).problems, []);
  } finally {
    t.mock.restoreAll();
    syncBuiltinESMExports();
  }
});

test('an interrupted pull leaves a partial blob that the next pull resumes', async () => {
  const env = freshEnv();
  hub.dropOnce.set(UNET, 1_500_000);
  await assert.rejects(
    pullModel(REPO, { env, precision: 'fp32', retry: { ...FAST_RETRY, attempts: 1 } }),
    (err: HubError) => err.kind === 'network' && err.message.includes(UNET),
  );
  const partial = path.join(repoDir(env), 'blobs', `${sha256(modelFiles[UNET]!)}.incomplete`);
  const have = statSync(partial).size;
  assert.ok(have > 0 && have <= 1_500_000);
  assert.ok(!existsSync(path.join(repoDir(env), 'refs', 'main')), 'no ref for an incomplete pull');
  const mark = hub.requests.length;
  const result = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY });
  const unetRequests = hub.requests.slice(mark).filter((r) => r.url.startsWith('/cdn/') && r.url.endsWith(sha256(modelFiles[UNET]!)));
  assert.deepEqual(unetRequests.map((r) => r.range), [`bytes=${have}-`]);
  assert.deepEqual(readFileSync(path.join(result.snapshotDir, UNET)), modelFiles[UNET]);
  assert.ok(!existsSync(partial));
});

test('a download whose hash does not match the hub is deleted with a clear error', async () => {
  const env = freshEnv();
  hub.corrupt.add(UNET);
  try {
    await assert.rejects(pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY }), (err: HubError) => {
      assert.equal(err.kind, 'hash-mismatch');
      assert.match(err.message, new RegExp(`^${UNET}: the downloaded bytes have sha256 [0-9a-f]{64}, but .* publishes ${sha256(modelFiles[UNET]!)}`));
      return true;
    });
  } finally {
    hub.corrupt.delete(UNET);
  }
  const blobs = readdirSync(path.join(repoDir(env), 'blobs'));
  assert.ok(!blobs.some((b) => b.startsWith(sha256(modelFiles[UNET]!))), `no unet blob or partial left: ${blobs}`);
});

test('fp16 weights are pulled where the repo has them, fp32 on request', async () => {
  const fp16Env = freshEnv();
  const mark = hub.requests.length;
  const half = await pullModel('tiny/both', { env: fp16Env, retry: FAST_RETRY });
  const weights = half.files.map((f) => f.path).filter((p) => p.endsWith('.safetensors')).sort();
  assert.deepEqual(weights, ['text_encoder/model.fp16.safetensors', 'unet/diffusion_pytorch_model.fp16.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors']);
  assert.equal(hub.requests.slice(mark).filter((r) => r.url.startsWith('/cdn/')).length, 3);
  assert.ok(!hub.requests.slice(mark).some((r) => r.url === `/cdn/${sha256(modelFiles[UNET]!)}`), 'the fp32 unet is not fetched');
  const report = await inspectModel(half.snapshotDir);
  assert.deepEqual(report.problems, []);
  assert.equal(report.precision, 'fp16');

  const fullEnv = freshEnv();
  const full = await pullModel('tiny/both', { env: fullEnv, precision: 'fp32', retry: FAST_RETRY });
  assert.deepEqual(full.files.map((f) => f.path).filter((p) => p.endsWith('.safetensors')).sort(), ['text_encoder/model.safetensors', UNET, 'vae/diffusion_pytorch_model.safetensors']);
  assert.equal((await inspectModel(full.snapshotDir)).precision, 'fp32');

  // A repo with fp32 weights only: fp16 falls back, with a note.
  const notes: string[] = [];
  const fallback = await pullModel(REPO, { env: freshEnv(), retry: FAST_RETRY, onMessage: (m) => notes.push(m) });
  assert.ok(fallback.files.some((f) => f.path === UNET));
  assert.match(notes.join('\n'), /unet: the repo has no fp16 weights; using unet\/diffusion_pytorch_model\.safetensors \(fp32\)/);
});

test('sharded weights: the index is fetched first, then the shards it names', async () => {
  const unet = SafetensorsFile.open(path.join(FIXTURE, UNET));
  const names = [...unet.tensors.keys()];
  const shardFiles: Record<string, Buffer> = {};
  const weightMap: Record<string, string> = {};
  names.forEach((n, i) => { weightMap[n] = `diffusion_pytorch_model-0000${(i % 2) + 1}-of-00002.safetensors`; });
  for (const shard of new Set(Object.values(weightMap))) {
    const file = path.join(tmpRoot, shard);
    writeSafetensors(file, names.filter((n) => weightMap[n] === shard).map((n) => {
      const t = unet.info(n);
      return [n, { dtype: t.dtype, shape: t.shape, data: new Uint8Array(unet.readBytes(n)) }] as [string, TensorToWrite];
    }));
    shardFiles[`unet/${shard}`] = readFileSync(file);
  }
  const files: Record<string, Buffer> = { ...modelFiles, ...shardFiles, 'unet/diffusion_pytorch_model.safetensors.index.json': Buffer.from(JSON.stringify({ metadata: {}, weight_map: weightMap })) };
  delete files[UNET];
  hub.addRepo('tiny/sharded', files);
  const result = await pullModel('tiny/sharded', { env: freshEnv(), retry: FAST_RETRY });
  assert.deepEqual(result.files.map((f) => f.path).filter((p) => p.startsWith('unet/')).sort(), [
    'unet/config.json',
    'unet/diffusion_pytorch_model-00001-of-00002.safetensors',
    'unet/diffusion_pytorch_model-00002-of-00002.safetensors',
    'unet/diffusion_pytorch_model.safetensors.index.json',
  ]);
  assert.deepEqual((await inspectModel(result.snapshotDir)).problems, []);
});

test('a mirror without hashes in its listing is served through HEAD requests', async () => {
  hub.listBlobs = false;
  try {
    const result = await pullModel(REPO, { env: freshEnv(), precision: 'fp32', retry: FAST_RETRY });
    assert.deepEqual(readFileSync(path.join(result.snapshotDir, UNET)), modelFiles[UNET]);
    assert.equal(path.basename(readlinkSync(path.join(result.snapshotDir, UNET))), sha256(modelFiles[UNET]!));
  } finally {
    hub.listBlobs = true;
  }
});

test('hub errors: unknown model, gated model without and with a token', async () => {
  await assert.rejects(pullModel('nobody/nothing', { env: freshEnv(), retry: FAST_RETRY }),
    (err: HubError) => err.kind === 'not-found' && err.message === `no model "nobody/nothing" on ${hub.endpoint} (HTTP 404); if it is private, set HF_TOKEN`);
  hub.unknownRepoStatus = 401;
  try {
    await assert.rejects(pullModel('nobody/nothing', { env: freshEnv(), retry: FAST_RETRY }), (err: HubError) => err.kind === 'not-found' && /HTTP 401/.test(err.message));
  } finally {
    hub.unknownRepoStatus = 404;
  }
  const xlIndex = { ...JSON.parse(modelFiles['model_index.json']!.toString()), _class_name: 'StableDiffusionXLPipeline' };
  hub.addRepo('tiny/xl', { ...modelFiles, 'model_index.json': Buffer.from(JSON.stringify(xlIndex)) });
  const mark = hub.requests.length;
  await assert.rejects(pullModel('tiny/xl', { env: freshEnv(), retry: FAST_RETRY }), (err: HubError) =>
    err.kind === 'not-a-pipeline' && err.message === 'tiny/xl (revision main): model_index.json: StableDiffusionXLPipeline is Stable Diffusion XL, which is not supported (use a Stable Diffusion 1.x or 2.x pipeline)');
  assert.deepEqual(hub.requests.slice(mark).filter((r) => r.url.includes('/resolve/')).map((r) => r.url.split('/resolve/')[1]!.split('/').slice(1).join('/')), ['model_index.json'], 'nothing but model_index.json fetched');

  await assert.rejects(pullModel(REPO, { env: freshEnv(), revision: 'v9', retry: FAST_RETRY }),
    (err: HubError) => err.kind === 'revision-not-found' && err.message.includes('no revision "v9"'));

  await assert.rejects(pullModel('tiny/gated', { env: freshEnv(), retry: FAST_RETRY }), (err: HubError) => {
    assert.equal(err.kind, 'gated');
    assert.match(err.message, /tiny\/gated is a gated model \(HTTP 401\): accept the license on the model page \(http:\/\/127\.0\.0\.1:\d+\/tiny\/gated\) and set HF_TOKEN/);
    return true;
  });
  await assert.rejects(pullModel('tiny/gated', { env: freshEnv({ HF_TOKEN: 'hf_wrong' }), retry: FAST_RETRY }),
    (err: HubError) => err.kind === 'gated' && err.message.includes('the token in HF_TOKEN has no access'));

  const markGated = hub.requests.length;
  const ok = await pullModel('tiny/gated', { env: freshEnv({ HF_TOKEN: 'hf_good' }), precision: 'fp32', retry: FAST_RETRY });
  assert.deepEqual(readFileSync(path.join(ok.snapshotDir, UNET)), modelFiles[UNET]);
  const sent = hub.requests.slice(markGated);
  assert.ok(sent.filter((r) => r.url.includes('/resolve/')).every((r) => r.authorization === 'Bearer hf_good'));
  assert.ok(sent.filter((r) => r.url.startsWith('/cdn/')).every((r) => r.authorization === undefined), 'the token is not sent to the CDN');
});

test('an unreachable hub is reported naming the endpoint', async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(pullModel(REPO, { env: { HF_HOME: path.join(tmpRoot, 'offline'), HF_ENDPOINT: endpoint }, retry: FAST_RETRY }),
    (err: HubError) => err.kind === 'offline' && err.message.startsWith(`cannot reach the Hugging Face hub at ${endpoint} (ECONNREFUSED)`));
  await assert.rejects(pullModel(REPO, { env: { ...freshEnv(), HF_HUB_OFFLINE: '1' } }), (err: HubError) => err.kind === 'offline' && /HF_HUB_OFFLINE/.test(err.message));
});

test('verify --hashes catches a cache blob altered after download', async () => {
  const env = freshEnv();
  const result = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY });
  const blob = path.join(repoDir(env), 'blobs', sha256(modelFiles[UNET]!));
  const bytes = readFileSync(blob);
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(blob, bytes);
  assert.deepEqual((await inspectModel(result.snapshotDir)).problems, [], 'same size and header: only hashing sees it');
  const report = await inspectModel(result.snapshotDir, { hashes: true });
  assert.equal(report.problems.length, 1);
  assert.match(report.problems[0]!, new RegExp(`^${UNET}: contents have sha256 [0-9a-f]{64}, the published hash is ${sha256(modelFiles[UNET]!)}`));
});

test('a cancelled pull stops and keeps its partial file for the next pull', async () => {
  const env = freshEnv();
  const controller = new AbortController();
  const pulling = pullModel(REPO, {
    env, precision: 'fp32', retry: FAST_RETRY, signal: controller.signal, progressIntervalMs: 0,
    onProgress: (p) => { if (p.file === UNET && p.fileBytes > 0) controller.abort(); },
  });
  await assert.rejects(pulling, (err: Error) => err.name === 'AbortError');
  const partial = path.join(repoDir(env), 'blobs', `${sha256(modelFiles[UNET]!)}.incomplete`);
  assert.ok(statSync(partial).size > 0);
  const result = await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY });
  assert.deepEqual(readFileSync(path.join(result.snapshotDir, UNET)), modelFiles[UNET]);
});

test('a repository being pulled by a live process is busy; the lock of a dead owner is taken over', async () => {
  const env = freshEnv();
  const lockFile = path.join(hubCacheDir(env), '.locks', 'models--tiny--sd15', 'tokenflow-pull.lock');
  mkdirSync(path.dirname(lockFile), { recursive: true });
  writeFileSync(lockFile, String(process.ppid));
  await assert.rejects(pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY }),
    (err: HubError) => err.kind === 'busy' && err.message === `tiny/sd15 is already being pulled (process ${process.ppid}); wait for it to finish or stop it`);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  writeFileSync(lockFile, String(dead));
  await pullModel(REPO, { env, precision: 'fp32', retry: FAST_RETRY });
  assert.ok(!existsSync(lockFile), 'the lock is released');
});
