// `tokenflow serve`, `tokenflow token` and `tokenflow jobs`, run as the user runs them:
// `node bin/tokenflow.mjs ...` in a child process, with TOKENFLOW_HOME in a temp folder.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/free_port.ts';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Health } from '../../shared/health.ts';
import { main } from '../../companion/cli/main.ts';
import { JobStore } from '../../companion/jobs/job_store.ts';
import { makeClip } from '../media/clips.ts';

const BIN = fileURLToPath(new URL('../../bin/tokenflow.mjs', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function tempHome(t: { after(fn: () => void): void }): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-cli-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  return home;
}

function envFor(home: string): NodeJS.ProcessEnv {
  // The user's own model cache and daemon settings must not leak into the test.
  const env: NodeJS.ProcessEnv = { ...process.env, TOKENFLOW_HOME: home, HF_HUB_CACHE: path.join(home, 'hf'), TOKENFLOW_MODELS: '' };
  delete env.TOKENFLOW_URL;
  delete env.TOKENFLOW_PORT;
  delete env.TOKENFLOW_MODEL;
  delete env.TOKENFLOW_OUTPUT_DIR;
  return env;
}

function tokenflow(home: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...envFor(home), ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Served {
  child: ChildProcess;
  url: string;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function serve(home: string, args: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { env: envFor(home), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`serve exited early:\n${out}`)));
  });
  return {
    child,
    url,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

test('token: printed, created once, stable, owner-only; --path and --rotate', async (t) => {
  const home = tempHome(t);
  const first = await tokenflow(home, ['token']);
  assert.equal(first.code, 0, first.stderr);
  const token = first.stdout.trim();
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  const second = await tokenflow(home, ['token']);
  assert.equal(second.stdout.trim(), token);

  const where = (await tokenflow(home, ['token', '--path'])).stdout.trim();
  assert.equal(where, path.join(home, 'config', 'token'));
  assert.equal(fs.readFileSync(where, 'utf8').trim(), token);
  if (process.platform !== 'win32') {
    assert.equal(fs.statSync(where).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(where)).mode & 0o777, 0o700);
  }

  const rotated = await tokenflow(home, ['token', '--rotate']);
  assert.equal(rotated.code, 0);
  const fresh = rotated.stdout.trim();
  assert.match(fresh, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(fresh, token);
  assert.equal((await tokenflow(home, ['token'])).stdout.trim(), fresh);
});

test('token: a group-readable token file is tightened back to 0600', { skip: process.platform === 'win32' }, async (t) => {
  const home = tempHome(t);
  await tokenflow(home, ['token']);
  const file = path.join(home, 'config', 'token');
  fs.chmodSync(file, 0o644);
  const again = await tokenflow(home, ['token']);
  assert.equal(again.code, 0);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('usage errors exit with 2, --help with 0 (spawned)', async (t) => {
  const home = tempHome(t);
  const [exposed, noSub, help] = await Promise.all([
    tokenflow(home, ['serve', '--host', '0.0.0.0']),
    tokenflow(home, ['jobs']),
    tokenflow(home, ['serve', '--help']),
  ]);
  assert.equal(exposed.code, 2);
  assert.match(exposed.stderr, /not a loopback address.*--i-know-this-exposes-the-daemon/);
  assert.equal(noSub.code, 2);
  assert.match(noSub.stderr, /missing sub-command/);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: tokenflow serve/);
});

test('serve and worker: a bad TOKENFLOW_PRECISION or TOKENFLOW_PROVIDERS stops the start, naming the variable', async (t) => {
  const home = tempHome(t);
  // The worker stops before it connects: no Redis listens on port 1.
  const [serve, worker] = await Promise.all([
    tokenflow(home, ['serve', '--port', '0'], { TOKENFLOW_PRECISION: 'float64' }),
    tokenflow(home, ['worker', '--queue', 'redis://127.0.0.1:1'], { TOKENFLOW_PROVIDERS: 'cuda,abacus' }),
  ]);
  assert.equal(serve.code, 1);
  assert.match(serve.stderr, /tokenflow serve: TOKENFLOW_PRECISION must be float32 or float16, got "float64"/);
  assert.equal(worker.code, 1);
  assert.match(worker.stderr, /tokenflow worker: TOKENFLOW_PROVIDERS/);
  assert.doesNotMatch(worker.stdout, /taking jobs/);
});

test('usage errors exit with 2 for every malformed command line (in-process)', async (t) => {
  const home = tempHome(t);
  t.mock.method(console, 'error', () => {});
  t.mock.method(console, 'log', () => {});
  const saved = process.env.TOKENFLOW_HOME;
  process.env.TOKENFLOW_HOME = home;
  t.after(() => {
    if (saved === undefined) delete process.env.TOKENFLOW_HOME;
    else process.env.TOKENFLOW_HOME = saved;
  });
  const usage: string[][] = [
    ['jobs', 'frob'],
    ['jobs', 'show'],
    ['jobs', 'list', 'extra'],
    ['jobs', 'list', '--bogus'],
    ['serve', '--port', 'abc'],
    ['serve', '--port', '70000'],
    ['serve', '--concurrency', '0'],
    ['serve', '--host', '192.168.1.10'],
    ['serve', '--bogus'],
    ['serve', 'extra'],
    ['token', 'extra'],
    ['token', '--path', '--rotate'],
  ];
  for (const args of usage) assert.equal(await main(args), 2, args.join(' '));
  for (const name of ['serve', 'token', 'jobs']) assert.equal(await main([name, '--help']), 0);
});

test('jobs: a clear message and exit 1 when no daemon runs', async (t) => {
  const home = tempHome(t);
  const never = await tokenflow(home, ['jobs', 'list']);
  assert.equal(never.code, 1);
  assert.match(never.stderr, /tokenflow serve/);
  await tokenflow(home, ['token']);
  // A token exists but nothing listens at the URL.
  const port = await freePort();
  const down = await tokenflow(home, ['jobs', 'list', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`no TokenFlow daemon answers at http://127\\.0\\.0\\.1:${port} \\(connection refused\\)`));
});

test('serve: starts, answers, lists jobs through `tokenflow jobs`, stops on SIGTERM', async (t) => {
  const home = tempHome(t);
  // A data folder left world-readable by an older install is tightened at start.
  fs.mkdirSync(path.join(home, 'data'), { mode: 0o755 });
  fs.chmodSync(path.join(home, 'data'), 0o755);
  const daemon = await serve(home);
  t.after(() => daemon.stop('SIGKILL'));
  assert.match(daemon.output(), /ffmpeg \S+/);
  assert.match(daemon.output(), /execution provider/);
  assert.match(daemon.output(), /default model: tiny-sd15 \(chosen from the installed models/);
  assert.match(daemon.output(), /random weights: edits will look like noise/);
  const token = fs.readFileSync(path.join(home, 'config', 'token'), 'utf8').trim();
  const auth = { Authorization: `Bearer ${token}` };

  const health = await fetch(`${daemon.url}/v1/health`, { headers: auth });
  assert.equal(health.status, 200);
  const healthBody = Health.parse(await health.json());
  assert.equal(healthBody.api_version, 'v1');
  assert.equal(healthBody.device, 'cpu');
  assert.equal(healthBody.status, 'ok');
  assert.match(daemon.output(), /execution provider: running on cpu/);
  const discovery = JSON.parse(fs.readFileSync(path.join(home, 'data', 'daemon.json'), 'utf8'));
  assert.equal(discovery.url, daemon.url);

  const [empty, clip] = await Promise.all([
    tokenflow(home, ['jobs', 'list']),
    makeClip(path.join(home, 'clip.mp4'), { width: 64, height: 48, rate: '10', frames: 10 }),
  ]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout.trim(), 'no jobs');

  // Settings no run could succeed with are refused at submit, naming the field.
  const impossible = await fetch(`${daemon.url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      source_path: clip, range: { start_seconds: 0, end_seconds: 0.5 }, prompt: 'a snowy street',
      parameters: { steps: 50, inversion_steps: 7 },
    }),
  });
  assert.equal(impossible.status, 400);
  const refusal = (await impossible.json()) as { error: { code: string; field: string; message: string } };
  assert.equal(refusal.error.field, 'parameters.inversion_steps');
  assert.match(refusal.error.message, /must be one of 50, 99-100/);

  // No model named: the daemon's default (the bundled tiny model here) runs the real pipeline.
  const submit = await fetch(`${daemon.url}/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      source_path: clip, range: { start_seconds: 0, end_seconds: 0.5 }, prompt: 'a snowy street',
      parameters: { steps: 2, inversion_steps: 2, short_side: 64, batch_size: 4 },
    }),
  });
  assert.equal(submit.status, 202);
  const { job } = (await submit.json()) as { job: { id: string; settings: { model: string | null } } };
  // The record names the model that renders it (resolved at submit, no environment side channel).
  assert.equal(job.settings.model, 'tiny-sd15');

  let workFilesSeen = 0;
  for (let i = 0; i < 600; i++) {
    const state = ((await (await fetch(`${daemon.url}/v1/jobs/${job.id}`, { headers: auth })).json()) as { state: string }).state;
    if (['succeeded', 'failed'].includes(state)) break;
    // While it runs: the extracted frames (written by ffmpeg) and checkpoints are owner-only.
    if (process.platform !== 'win32') workFilesSeen = Math.max(workFilesSeen, assertOwnerOnly(home, path.join(home, 'data', 'work', job.id)).files);
    await new Promise((r) => setTimeout(r, 100));
  }
  const [showRun, list, jsonList, cancel, unknown, bad] = await Promise.all([
    tokenflow(home, ['jobs', 'show', job.id]),
    tokenflow(home, ['jobs', 'list']),
    tokenflow(home, ['jobs', 'list', '--json']),
    tokenflow(home, ['jobs', 'cancel', job.id]),
    tokenflow(home, ['jobs', 'show', '00000000-0000-4000-8000-000000000000']),
    tokenflow(home, ['jobs', 'show', '../../etc']),
  ]);
  const shown = showRun.stdout;
  assert.match(shown, /state\s+succeeded/);
  assert.doesNotMatch(shown, /s left/, 'a finished job has no time left');
  if (process.platform !== 'win32') {
    assert.ok(workFilesSeen > 0, 'the work folder was checked while the job ran');
    assertPrivateData(home, job.id);
  }
  assert.match(shown, /prompt\s+a snowy street/);
  assert.match(shown, /model\s+tiny-sd15/);
  assert.match(list.stdout, new RegExp(`${job.id}\\s+succeeded\\s.*\\stiny-sd15\\s+a snowy street`));
  assert.match(list.stdout, /^ID\s+STATE\s+STAGE\s+DONE\s+CREATED\s+MODEL\s+PROMPT$/m);
  assert.equal(JSON.parse(jsonList.stdout).jobs[0].id, job.id);
  assert.equal(cancel.code, 0);
  assert.match(cancel.stdout, /succeeded/); // a finished job is returned unchanged
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /HTTP 404/);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /HTTP 400/);

  assert.equal(await daemon.stop('SIGTERM'), 0);
  assert.match(daemon.output(), /stopped/);
  assert.ok(!fs.existsSync(path.join(home, 'data', 'daemon.json')), 'discovery file removed');
});

test('serve: a burst of 200 submissions is all answered, health keeps answering, and every 2xx is one listed job', async (t) => {
  const home = tempHome(t);
  const daemon = await serve(home);
  t.after(() => daemon.stop('SIGKILL'));
  const token = fs.readFileSync(path.join(home, 'config', 'token'), 'utf8').trim();
  const auth = { Authorization: `Bearer ${token}` };
  const clip = await makeClip(path.join(home, 'clip.mp4'), { width: 64, height: 48, rate: '10', frames: 10 });
  // Every tenth one asks for a range past the clip's end (1 s long): a 422 at submit.
  const body = (i: number) => JSON.stringify({
    source_path: clip,
    range: { start_seconds: 0, end_seconds: i % 10 === 9 ? 3 : 0.5 },
    prompt: `a snowy street ${i}`,
    parameters: { steps: 2, inversion_steps: 2, short_side: 64, batch_size: 4 },
  });
  // The client gives each request 30 s, as a panel or script would before retrying.
  const post = (i: number) =>
    fetch(`${daemon.url}/v1/jobs`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: body(i), signal: AbortSignal.timeout(30_000) })
      .then(async (res) => ({ status: res.status, body: (await res.json()) as { error?: { code: string; field?: string } } }));
  let bursting = true;
  const healthProbes: number[] = [];
  const probing = (async () => {
    while (bursting) {
      const res = await fetch(`${daemon.url}/v1/health`, { headers: auth, signal: AbortSignal.timeout(30_000) });
      healthProbes.push(res.status);
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(i)));
  bursting = false;
  await probing;
  const byStatus = new Map<number, number>();
  for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(byStatus), { 202: 180, 422: 20 }, 'every submission answered: accepted, or refused for its range');
  for (const [i, a] of answers.entries()) {
    if (i % 10 === 9) assert.deepEqual([a.body.error?.code, a.body.error?.field], ['media_invalid', 'range'], `submission ${i}`);
  }
  assert.ok(healthProbes.length > 0 && healthProbes.every((s) => s === 200), `health answered ${healthProbes.length} probes: ${healthProbes.join(',')}`);
  const listed = (await (await fetch(`${daemon.url}/v1/jobs`, { headers: auth })).json()) as { jobs: Array<{ request: { prompt: string } }> };
  assert.equal(listed.jobs.length, answers.filter((a) => a.status >= 200 && a.status < 300).length, 'no job without a 2xx, no 2xx without a job');
  assert.equal(await daemon.stop('SIGTERM'), 0);
});

/** Whether this machine lets us mount a tmpfs in a user+mount namespace (Linux; not in every container). */
function canMountTmpfs(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = spawnSync('unshare', ['-rm', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=64k tf /mnt'], { stdio: 'ignore' });
  return probe.status === 0;
}

test('serve: a full data disk (a real 2 MB tmpfs) answers 507 disk_full, changes nothing, and the log replays to what GET showed', { skip: !canMountTmpfs() && 'cannot mount a tmpfs here (needs unshare -rm and tmpfs in user namespaces)' }, async (t) => {
  const home = tempHome(t);
  const dataDir = path.join(home, 'data');
  fs.mkdirSync(dataDir);
  const env = { ...envFor(home), TOKENFLOW_CACHE_DIR: path.join(home, 'cache') };
  // The daemon runs in its own mount namespace with the data folder on a 2 MB tmpfs; the test
  // reaches that tmpfs through /proc/<pid>/root to fill and free it.
  const child = spawn('unshare', ['-rm', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=2m tf "$0" && exec "$1" "$2" serve --port 0`, dataDir, process.execPath, BIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => void (child.exitCode === null && child.kill('SIGKILL')));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 60 s:\n${out}`)), 60_000);
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', () => reject(new Error(`serve exited early:\n${out}`)));
  });
  const onTmpfs = (rel: string) => path.join(`/proc/${child.pid}/root`, dataDir, rel);
  const filler = onTmpfs('filler');
  const fill = () => {
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(4096);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      fs.closeSync(fd);
    }
  };
  const token = fs.readFileSync(path.join(home, 'config', 'token'), 'utf8').trim();
  const call = async (method: string, route: string, body?: object) => {
    const res = await fetch(`${url}${route}`, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
    return { status: res.status, json: res.status === 204 ? undefined : ((await res.json()) as any) };
  };
  const clip = await makeClip(path.join(home, 'clip.mp4'), { width: 64, height: 48, rate: '10', frames: 10 });
  const request = { source_path: clip, range: { start_seconds: 0, end_seconds: 0.5 }, prompt: 'a snowy street', parameters: { steps: 2, inversion_steps: 2, short_side: 64, batch_size: 4 } };
  /** The job log as a fresh store replays it (a copy, so the daemon's lock is not in the way). */
  const replayed = async () => {
    const copy = fs.mkdtempSync(path.join(home, 'replay-'));
    fs.copyFileSync(onTmpfs('jobs/jobs.jsonl'), path.join(copy, 'jobs.jsonl'));
    const store = new JobStore(copy);
    const { warnings } = await store.open();
    const jobs = store.all().map((s) => s.job);
    await store.close();
    return { jobs, warnings };
  };

  fill();
  const refused = await call('POST', '/v1/jobs', request);
  assert.equal(refused.status, 507, JSON.stringify(refused.json));
  assert.equal(refused.json.error.code, 'disk_full');
  assert.ok(refused.json.error.message.includes(path.join(dataDir, 'jobs')), refused.json.error.message);
  assert.deepEqual((await call('GET', '/v1/jobs')).json, { jobs: [] });
  assert.equal(fs.readFileSync(onTmpfs('jobs/jobs.jsonl'), 'utf8'), '', 'no fragment in the log');
  const presetRefused = await call('PUT', '/v1/presets/teal', { description: 'Teal', prompt: '{prompt}, teal' });
  assert.equal(presetRefused.status, 507);
  assert.deepEqual(fs.readdirSync(onTmpfs('jobs')).filter((f) => f.includes('.tmp-')), [], 'no presets temp file');

  fs.rmSync(filler);
  const accepted = await call('POST', '/v1/jobs', request);
  assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
  const id = accepted.json.job.id as string;
  for (let i = 0; i < 600 && !['succeeded', 'failed'].includes((await call('GET', `/v1/jobs/${id}`)).json.state); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await call('GET', `/v1/jobs/${id}`)).json.state, 'succeeded');

  // (A small append can still fit in the last page of the log file on a "full" tmpfs, so
  // whether a later write is refused depends on the line: the empty log above is the sure case.)
  const shown = (await call('GET', '/v1/jobs')).json.jobs;
  assert.deepEqual(shown.map((j: { id: string }) => j.id), [id]);
  const log = await replayed();
  assert.deepEqual(log.warnings, []);
  assert.deepEqual(log.jobs, shown, 'the log replays to exactly what GET showed');

  assert.equal((await call('DELETE', `/v1/jobs/${id}`)).status, 204);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
});

/**
 * Everything under the data folder (job log, work folders, inversion latents and entry.json,
 * converted weights, graphs, discovery file) is owner-only; the render keeps the user's usual
 * mode (this test runs with the umask it was given, 022 or the like).
 */
function assertPrivateData(home: string, jobId: string): void {
  const dataDir = path.join(home, 'data');
  const seen = assertOwnerOnly(home, dataDir);
  const names = fs.readdirSync(dataDir, { recursive: true }).map(String);
  for (const expected of ['jobs/jobs.jsonl', 'daemon.json', 'cache/inversion']) assert.ok(names.some((n) => n.startsWith(expected)), `${expected} in ${names.join(', ')}`);
  assert.ok(names.some((n) => n.endsWith('entry.json')), 'an inversion cache entry was written');
  assert.ok(seen.files >= 5, `${seen.files} files checked`);
  assert.equal((fs.statSync(path.join(home, 'config', 'token')).mode & 0o777).toString(8), '600');
  const umask = process.umask();
  const renders = path.join(home, 'renders');
  const render = fs.readdirSync(renders).find((f) => f.includes(jobId.slice(0, 8)));
  assert.ok(render, 'the render exists');
  assert.equal((fs.statSync(path.join(renders, render)).mode & 0o777).toString(8), (0o666 & ~umask).toString(8), 'render: the usual mode');
  assert.equal((fs.statSync(renders).mode & 0o777).toString(8), (0o777 & ~umask).toString(8), 'output folder: the usual mode');
}

/** Every folder under `root` is 0700 and every file 0600; things vanishing meanwhile are skipped. */
function assertOwnerOnly(home: string, root: string): { dirs: number; files: number } {
  const seen = { dirs: 0, files: 0 };
  const walk = (p: string) => {
    let st: fs.Stats;
    let names: string[] = [];
    try {
      st = fs.statSync(p);
      if (st.isDirectory()) names = fs.readdirSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const mode = (st.mode & 0o777).toString(8);
    if (st.isDirectory()) {
      assert.equal(mode, '700', `folder ${path.relative(home, p)}`);
      seen.dirs++;
      for (const name of names) walk(path.join(p, name));
    } else {
      assert.equal(mode, '600', `file ${path.relative(home, p)}`);
      seen.files++;
    }
  };
  walk(root);
  return seen;
}

test('serve: a second daemon (same port, or same data folder) fails with a clear message', async (t) => {
  const home = tempHome(t);
  const first = await serve(home);
  t.after(() => first.stop('SIGKILL'));
  const port = new URL(first.url).port;
  const [samePort, sameData] = await Promise.all([
    tokenflow(tempHome(t), ['serve', '--port', port]),
    tokenflow(home, ['serve', '--port', '0']),
  ]);
  assert.equal(samePort.code, 1);
  assert.match(samePort.stderr, new RegExp(`port ${port} .*already in use`));
  assert.equal(sameData.code, 1);
  assert.match(sameData.stderr, /in use by another daemon/);
  assert.equal(await first.stop('SIGINT'), 0);
});
