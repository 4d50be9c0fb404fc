// The studio farm end to end, as a studio runs it: a real redis-server, `tokenflow serve
// --queue` and `tokenflow worker` processes, real ffmpeg and the bundled tiny model. The
// daemon keeps its API and events; the workers run the jobs and write the renders.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { EventOf } from '../../shared/events.ts';
import type { Health } from '../../shared/health.ts';
import type { JobRecord } from '../../shared/jobs.ts';
import { resolveBinaries } from '../../companion/media/binaries.ts';
import { ffprobeJson, makeClip } from '../media/clips.ts';
import { tempDir, tokenflow } from '../helpers/cli.ts';
import { startWorker } from '../helpers/farm_worker.ts';
import { commandLine, descendants, freezeWithWatch, processesNaming, running as alive } from '../helpers/processes.ts';
import { startRedis, type RedisServer } from '../helpers/redis_server.ts';
import { daemonEnv, serveDaemon, until, type ServedDaemon } from '../helpers/served_daemon.ts';

const SLOW = { timeout: 600_000 };
const execFileAsync = promisify(execFile);

/** The workers' --stall-seconds, the lowest valid: a dead worker's job is taken over within seconds, not a minute. */
const STALL_SECONDS = 2;

/**
 * One redis-server for the file's tests (one at a time, as node:test runs a file's tests),
 * emptied before each: a test's daemons and workers are stopped when it ends. Append-only, as
 * a studio runs it, for the test that kills it.
 */
let redis: RedisServer;
before(async () => {
  redis = await startRedis(undefined, { appendOnly: true });
});
after(() => redis.stop());

/** The shared Redis, emptied (a test's queue, heartbeats and cancel keys start from nothing). */
async function freshRedis(): Promise<RedisServer> {
  const client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
  await client.flushall();
  client.disconnect();
  return redis;
}

/** A small clip: the farm's points do not need a big one (the encode-kill test makes its own). */
function smallClip(file: string): Promise<string> {
  return makeClip(file, { width: 320, height: 240, rate: '10', frames: 8 });
}

/** Redis, an editor's daemon on it, a clip, and two workers w1 and w2 sharing one work folder, all stopped after the test. */
async function twoWorkerFarm(t: TestContext, prefix: string) {
  const home = tempDir(t, prefix);
  await freshRedis();
  const clip = await smallClip(path.join(home, 'clip.mp4'));
  const work = path.join(home, 'work');
  const workerArgs = ['--queue', redis.url, '--output', path.join(home, 'renders'), '--work', work, '--stall-seconds', String(STALL_SECONDS)];
  // Started at once: each start is seconds of loading.
  const [d, ...workers] = await Promise.all([
    serveDaemon(path.join(home, 'editor'), ['--queue', redis.url]),
    startWorker(path.join(home, 'w1'), [...workerArgs, '--name', 'w1']),
    startWorker(path.join(home, 'w2'), [...workerArgs, '--name', 'w2']),
  ]);
  t.after(() => Promise.all([d.stop('SIGKILL'), ...workers.map((w) => w.stop('SIGKILL'))]));
  return { home, clip, d, work, workers };
}

function jobBody(clip: string, prompt: string, parameters: Record<string, number> = {}) {
  return {
    source_path: clip, range: { start_seconds: 0, end_seconds: 0.8 }, prompt, codec: 'h264',
    // Processed at 88x64: the farm's points do not need more, and each UNet call is cheap.
    parameters: { steps: 1, inversion_steps: 1, short_side: 64, batch_size: 8, ...parameters },
  };
}

async function submit(d: ServedDaemon, clip: string, prompt: string): Promise<string> {
  return submitBody(d, jobBody(clip, prompt));
}

async function submitBody(d: ServedDaemon, body: ReturnType<typeof jobBody>): Promise<string> {
  const res = await d.request('POST', '/v1/jobs', body);
  assert.equal(res.status, 202, JSON.stringify(res.json));
  return (res.json as { job: JobRecord }).job.id;
}

function states(d: ServedDaemon, id: string): JobRecord[] {
  return d.events.filter((e): e is EventOf<'job.state'> => e.type === 'job.state' && e.job.id === id).map((e) => e.job);
}

async function reached(d: ServedDaemon, id: string, predicate: (j: JobRecord) => boolean, what: string, ms = 240_000): Promise<JobRecord> {
  await until(() => states(d, id).some(predicate), ms, `job ${id.slice(0, 8)}: ${what}\n${d.output()}`);
  return states(d, id).find(predicate)!;
}

test('one daemon and two workers run four jobs to valid renders; paths are mapped both ways', SLOW, async (t) => {
  const home = tempDir(t, 'tf-farm-');
  await freshRedis();
  // One shared folder, seen by the editor and by the workers under different paths.
  const shared = path.join(home, 'shared');
  fs.mkdirSync(path.join(shared, 'renders'), { recursive: true });
  const editorView = path.join(home, 'editor-view');
  const workerView = path.join(home, 'worker-view');
  fs.symlinkSync(shared, editorView);
  fs.symlinkSync(shared, workerView);
  await smallClip(path.join(shared, 'clip.mp4'));
  const clip = path.join(editorView, 'clip.mp4');

  const workerArgs = ['--queue', redis.url, '--path-map', `${editorView}=${workerView}`, '--output', path.join(workerView, 'renders'), '--work', path.join(workerView, 'work')];
  const [d, ...workers] = await Promise.all([
    serveDaemon(path.join(home, 'editor'), ['--queue', redis.url]),
    startWorker(path.join(home, 'w1'), [...workerArgs, '--name', 'w1']),
    startWorker(path.join(home, 'w2'), [...workerArgs, '--name', 'w2']),
  ]);
  t.after(() => Promise.all([d.stop('SIGKILL'), ...workers.map((w) => w.stop('SIGKILL'))]));

  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(await submit(d, clip, `farm job ${i}`));
  for (const id of ids) {
    const done = await reached(d, id, (j) => j.state === 'succeeded' || j.state === 'failed' || j.state === 'canceled', 'finished');
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const out = done.result!.output_path!;
    assert.ok(out.startsWith(path.join(editorView, 'renders') + path.sep), `the render's path is the editor's: ${out}`);
    const probe = await ffprobeJson(out, 'stream=codec_name,width,height,nb_frames');
    assert.deepEqual(probe.streams[0], { codec_name: 'h264', width: 320, height: 240, nb_frames: '8' });
    assert.equal(done.result!.frame_count, 8);
    // The worker's stages reached the daemon's clients as progress events.
    const stages = new Set(d.events.filter((e): e is EventOf<'job.progress'> => e.type === 'job.progress' && e.job_id === id).map((e) => e.stage));
    for (const stage of ['probe', 'extract', 'invert', 'edit', 'decode', 'encode'] as const) assert.ok(stages.has(stage), `progress for ${stage}: ${[...stages]}`);
    // The edit's keyframe previews too, as for a local run: real images of the processing size.
    const previews = d.events.filter((e): e is EventOf<'job.preview'> => e.type === 'job.preview' && e.job_id === id);
    assert.ok(previews.length > 0, `previews of job ${id.slice(0, 8)}`);
    for (const p of previews) {
      assert.deepEqual([p.width, p.height], [88, 64]);
      const magic = p.mime === 'image/png' ? [0x89, 0x50, 0x4e, 0x47] : [0xff, 0xd8, 0xff];
      assert.deepEqual([...Buffer.from(p.data, 'base64').subarray(0, magic.length)], magic);
    }
    // Queued until a worker took it, then running on that worker, which the record names.
    const seen = states(d, id);
    assert.equal(seen[0]!.state, 'queued');
    assert.ok(['w1', 'w2'].includes(done.worker!), `the worker's name: ${done.worker}`);
    assert.equal(seen.find((j) => j.state === 'running')!.worker, done.worker);
  }
  // Both workers took jobs (each was ready, one job at a time, before the four were submitted).
  for (const [i, w] of workers.entries()) assert.match(w.output(), /succeeded/, `worker ${i + 1} ran no job:\n${w.output()}`);
  // The daemon's job log holds the records (`tokenflow jobs list` reads them the same way).
  const listed = (await d.request('GET', '/v1/jobs')).json as { jobs: JobRecord[] };
  assert.deepEqual(listed.jobs.filter((j) => ids.includes(j.id)).map((j) => j.state), ['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  const list = await tokenflow(['jobs', 'list', '--url', d.url], daemonEnv(path.join(home, 'editor')));
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^ID +STATE +STAGE +DONE +WORKER +CREATED +MODEL +PROMPT$/m);
  for (const job of listed.jobs) assert.match(list.stdout, new RegExp(`^${job.id} +succeeded +encode +100% +${job.worker} `, 'm'));
  // Work folders are gone once the jobs end.
  assert.deepEqual(fs.readdirSync(path.join(shared, 'work')), []);
});

test('a job submitted with no worker waits, then runs; cancel reaches a queued and a running remote job', SLOW, async (t) => {
  const home = tempDir(t, 'tf-farm-cancel-');
  await freshRedis();
  const clip = await smallClip(path.join(home, 'clip.mp4'));
  const d = await serveDaemon(path.join(home, 'editor'), ['--queue', redis.url]);
  t.after(() => d.stop('SIGKILL'));

  // Three inversion and edit steps: the running job is long enough for its cancel to find it running.
  const running = await submitBody(d, jobBody(clip, 'canceled while running', { steps: 3, inversion_steps: 3 }));
  const queued = await submit(d, clip, 'canceled while queued');
  await until(() => (d.output().match(/waiting for a worker/g) ?? []).length === 2, 30_000, 'the daemon to hand the jobs to the queue');
  // Waiting in the farm's queue is `queued`, everywhere: the API, the events, the health, the CLI.
  for (const id of [running, queued]) {
    assert.deepEqual([(await d.job(id)).state, (await d.job(id)).stage], ['queued', null]);
    assert.deepEqual(states(d, id).map((j) => j.state), ['queued', 'queued']);
  }
  const waiting = (await d.request('GET', '/v1/health')).json as Health;
  assert.deepEqual([waiting.queue, waiting.workers], [{ queued: 2, running: 0 }, []]);
  const editorEnv = daemonEnv(path.join(home, 'editor'));
  const listedQueued = await tokenflow(['jobs', 'list', '--url', d.url], editorEnv);
  for (const id of [running, queued]) assert.match(listedQueued.stdout, new RegExp(`^${id} +queued +- +0% `, 'm'));
  const canceledQueued = (await d.request('POST', `/v1/jobs/${queued}/cancel`)).json as JobRecord;
  assert.ok(['queued', 'canceled'].includes(canceledQueued.state));
  assert.equal((await reached(d, queued, (j) => j.state === 'canceled', 'canceled', 30_000)).error?.message, 'canceled while queued');

  const workerStarted = Date.now();
  const worker = await startWorker(path.join(home, 'w1'), ['--queue', redis.url, '--output', path.join(home, 'renders'), '--work', path.join(home, 'work'), '--name', 'gpu-1']);
  t.after(() => worker.stop('SIGKILL'));
  await until(() => d.events.some((e) => e.type === 'job.progress' && e.job_id === running && e.stage === 'invert'), 240_000, 'the job to run on the worker');
  assert.deepEqual([(await d.job(running)).state, (await d.job(running)).worker], ['running', 'gpu-1']);
  // The health lists the worker from its heartbeat: name, host, device, the job it runs.
  const busy = (await d.request('GET', '/v1/health')).json as Health;
  assert.deepEqual(busy.queue, { queued: 0, running: 1 });
  assert.equal(busy.workers!.length, 1);
  const w = busy.workers![0]!;
  assert.deepEqual([w.name, w.host, w.pid, w.device, w.concurrency, w.jobs], ['gpu-1', os.hostname(), worker.child.pid, 'cpu', 1, [running]]);
  // A heartbeat this worker wrote (same clock).
  const beat = Date.parse(w.heartbeat_at);
  assert.ok(beat >= workerStarted && beat <= Date.now(), w.heartbeat_at);
  assert.match((await tokenflow(['jobs', 'show', running, '--url', d.url], editorEnv)).stdout, /^worker +gpu-1$/m);
  assert.equal((await d.request('POST', `/v1/jobs/${running}/cancel`)).status, 200);
  const canceled = await reached(d, running, (j) => j.state === 'canceled', 'canceled', 60_000);
  assert.match(canceled.error!.message, /^canceled during (invert|edit|decode)$/);
  await until(() => /cancel requested/.test(worker.output()), 30_000, 'the worker to hear the cancel');
  // The queued job never ran anywhere; the worker keeps taking jobs after a cancel.
  assert.doesNotMatch(worker.output(), new RegExp(`job ${queued.slice(0, 8)}`));
  const next = await submit(d, clip, 'after the cancels');
  assert.equal((await reached(d, next, (j) => j.state === 'succeeded' || j.state === 'failed', 'finished')).state, 'succeeded');
  assert.deepEqual(fs.readdirSync(path.join(home, 'renders')).filter((f) => !f.includes('after-the-cancels')), [], 'no render or partial file of a canceled job');
  // A worker that stops leaves the health at once (its heartbeat key goes with it).
  await worker.stop('SIGTERM');
  assert.deepEqual(((await d.request('GET', '/v1/health')).json as Health).workers, []);
});

test('a stopped worker puts its job back, another resumes it from its checkpoint, and a restarted daemon collects the outcome', SLOW, async (t) => {
  const home = tempDir(t, 'tf-farm-resume-');
  await freshRedis();
  const clip = await smallClip(path.join(home, 'clip.mp4'));
  const editorHome = path.join(home, 'editor');
  const workerArgs = ['--queue', redis.url, '--output', path.join(home, 'renders'), '--work', path.join(home, 'work')];
  const [first, w1] = await Promise.all([serveDaemon(editorHome, ['--queue', redis.url]), startWorker(path.join(home, 'w1'), workerArgs)]);
  t.after(() => Promise.all([first.stop('SIGKILL'), w1.stop('SIGKILL')]));
  // Three inversion and edit steps: the job is still running when both stop.
  const id = await submitBody(first, jobBody(clip, 'resumed elsewhere', { steps: 3, inversion_steps: 3 }));
  await until(() => first.events.some((e) => e.type === 'job.progress' && e.job_id === id && e.stage === 'invert'), 240_000, 'the job to reach invert');
  // The editor closes the laptop and the GPU machine is stopped, both mid-job.
  assert.equal(await first.stop('SIGTERM'), 0);
  await w1.stop('SIGTERM');
  assert.equal(w1.child.exitCode, 0, w1.output());
  assert.match(w1.output(), /put back in the queue/);

  const w2 = await startWorker(path.join(home, 'w2'), workerArgs);
  t.after(() => w2.stop('SIGKILL'));
  await until(() => /succeeded/.test(w2.output()), 240_000, `the second worker to finish the job:\n${w2.output()}`);
  assert.match(w2.output(), new RegExp(`job ${id.slice(0, 8)}: started \\(attempt 2\\)`));
  // It resumed from the first attempt's checkpoint in the shared work folder.
  assert.match(w2.output(), new RegExp(`job ${id.slice(0, 8)}: extract: reusing 8 frames from an earlier attempt`));

  const second = await serveDaemon(editorHome, ['--queue', redis.url]);
  t.after(() => second.stop('SIGKILL'));
  await until(async () => (await second.job(id)).state === 'succeeded', 60_000, `the restarted daemon to collect the outcome:\n${second.output()}`);
  const job = await second.job(id);
  const probe = await ffprobeJson(job.result!.output_path!, 'stream=codec_name,nb_frames');
  assert.deepEqual(probe.streams[0], { codec_name: 'h264', nb_frames: '8' });
  // It attached at start-up, before its event stream opened: its log says so.
  assert.match(second.output(), new RegExp(`job ${id.slice(0, 8)}: attached to the farm's job \\(completed\\)`));
  // The worker's log lines of the time no daemon followed the job are in the restarted
  // daemon's log, once each; the ones the first daemon relayed are not repeated.
  const relayedBy = (daemon: ServedDaemon) => daemon.output().split('\n').filter((l) => l.includes(`job ${id.slice(0, 8)}: [worker] `)).map((l) => l.slice(l.indexOf('[worker] ')));
  const before = relayedBy(first);
  const caughtUp = relayedBy(second);
  assert.ok(before.some((l) => /^\[worker\] extract: 8 frames at /.test(l)), before.join('\n'));
  assert.deepEqual(caughtUp.filter((l) => before.includes(l)), [], 'nothing the first daemon relayed');
  assert.equal(caughtUp.filter((l) => l === '[worker] extract: reusing 8 frames from an earlier attempt').length, 1, caughtUp.join('\n'));
  assert.equal(new Set(caughtUp).size, caughtUp.length, caughtUp.join('\n'));
  assert.ok(caughtUp.some((l) => /^\[worker\] inversion: /.test(l)), caughtUp.join('\n'));
});

test('worker: an unreachable or refusing queue is an error naming the address, never the password', SLOW, async (t) => {
  const home = tempDir(t, 'tf-farm-auth-');
  const redis = await startRedis('right-password');
  t.after(() => redis.stop());
  // Four separate processes, run at once.
  const [wrong, badMap, both, badStall] = await Promise.all([
    tokenflow(['worker', '--queue', `redis://:wrong-password@127.0.0.1:${redis.port}/0`], daemonEnv(home)),
    tokenflow(['worker', '--queue', redis.url, '--path-map', '/Volumes/Projects'], daemonEnv(home)),
    tokenflow(['serve', '--queue', redis.url, '--concurrency', '2'], daemonEnv(home)),
    tokenflow(['worker', '--queue', redis.url, '--stall-seconds', '1'], daemonEnv(home)),
  ]);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, new RegExp(`cannot reach the farm's queue at redis://127\\.0\\.0\\.1:${redis.port}/0 \\(with a password\\): .*(WRONGPASS|invalid)`));
  assert.doesNotMatch(wrong.stdout + wrong.stderr, /wrong-password/);
  assert.equal(badMap.code, 2);
  assert.match(badMap.stderr, /FROM=TO/);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--concurrency does not apply with --queue/);
  assert.equal(badStall.code, 2);
  assert.match(badStall.stderr, /--stall-seconds must be an integer from 2 to 3600, got "1"/);
});

test('serve --queue logs in with the queue password `service install` kept in the config folder (no TOKENFLOW_QUEUE_PASSWORD set)', SLOW, async (t) => {
  const home = tempDir(t, 'tf-farm-kept-password-');
  const redis = await startRedis('Pa55-kept-1n-file');
  t.after(() => redis.stop());
  fs.mkdirSync(path.join(home, 'config'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(home, 'config', 'queue-password'), 'Pa55-kept-1n-file\n', { mode: 0o600 });
  assert.equal(daemonEnv(home).TOKENFLOW_QUEUE_PASSWORD, undefined);
  const d = await serveDaemon(home, ['--queue', `redis://127.0.0.1:${redis.port}/0`]);
  t.after(() => d.stop('SIGKILL'));
  assert.deepEqual(((await d.request('GET', '/v1/health')).json as Health).workers, []);
  assert.doesNotMatch(d.output(), /Pa55-kept-1n-file/);
});

test('take-overs, to the frames of an uninterrupted run: a worker frozen (its pipeline process running on) loses its job, whose pipeline process stops before the other worker takes it, and thawed it leaves the job alone; a worker killed with -9 mid-edit: its pipeline process ends with it and the other worker resumes from the edit checkpoint', { ...SLOW, skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const { clip, d, work, workers } = await twoWorkerFarm(t, 'tf-farm-takeover-');
  const name = (w: (typeof workers)[number]) => (w === workers[0] ? 'w1' : 'w2');
  // Eight edit steps at 112x64: each take-over comes after the first step's checkpoint is on
  // the shared storage. A frozen worker's pipeline process stops within about four model calls
  // (README, studio farm), and only while a run goes on: the steps left must outlast that even
  // when this test sees the checkpoint late (with three steps, a loaded CI machine once saw the
  // run end first, its process then idle). The same job three times: the same frames.
  const body = jobBody(clip, 'survives its worker', { steps: 8, inversion_steps: 8, seed: 7 });
  const finished = (j: JobRecord) => j.state === 'succeeded' || j.state === 'failed';
  /** Submits the job and waits for its first edit checkpoint: the worker running it, the other, and its pipeline process. */
  const runUntilCheckpoint = async () => {
    const id = await submitBody(d, body);
    await until(() => fs.existsSync(path.join(work, id, 'cache', 'edit-checkpoint', 'manifest.json')), 240_000, `the first edit checkpoint of job ${id.slice(0, 8)}\n${d.output()}`);
    const victim = workers.find((w) => new RegExp(`job ${id.slice(0, 8)}: started`).test(w.output()))!;
    const pipeline = descendants(victim.child.pid!).find((p) => commandLine(p).includes('pipeline_process/entry'));
    assert.ok(pipeline !== undefined, 'the pipeline process runs');
    return { id, victim, other: workers.find((w) => w !== victim)!, pipeline };
  };
  const retaken = (id: string) => new RegExp(`job ${id.slice(0, 8)}: started \\(attempt 2\\)`);

  // 1. The worker process alone is frozen (a stall of its event loop looks the same to Redis).
  const frozen = await runUntilCheckpoint();
  process.kill(frozen.victim.child.pid!, 'SIGSTOP');
  t.after(() => {
    if (alive(frozen.victim.child.pid!)) process.kill(frozen.victim.child.pid!, 'SIGCONT');
  });
  // Its pipeline process hears no more beats and stops by itself, before the other worker takes the job.
  await until(() => !alive(frozen.pipeline) || retaken(frozen.id).test(frozen.other.output()), 60_000, 'the pipeline process to stop or the job to be taken');
  assert.equal(alive(frozen.pipeline), false, `the frozen worker's pipeline process still ran when the other worker took the job:\n${frozen.victim.output()}\n${frozen.other.output()}`);
  assert.match(frozen.victim.output(), new RegExp(`pipeline process ${frozen.pipeline}: no word from its parent for ${Math.round((STALL_SECONDS * 1000) / 3)} ms; stopping its run`));
  const doneFrozen = await reached(d, frozen.id, finished, 'finished on the other worker', 300_000);
  assert.deepEqual([doneFrozen.state, doneFrozen.worker], ['succeeded', name(frozen.other)], JSON.stringify(doneFrozen.error));
  assert.match(frozen.other.output(), retaken(frozen.id));
  const frozenRender = await decodedFrames(doneFrozen.result!.output_path!);
  const eventsBefore = d.events.length;
  // Thawed, it finds its job gone and leaves it alone.
  process.kill(frozen.victim.child.pid!, 'SIGCONT');
  await until(() => new RegExp(`job ${frozen.id.slice(0, 8)}: stopped here`).test(frozen.victim.output()), 60_000, `the thawed worker to stop its run:\n${frozen.victim.output()}`);
  assert.doesNotMatch(frozen.victim.output(), new RegExp(`job ${frozen.id.slice(0, 8)}: (succeeded|canceled|internal)`));
  // The daemon heard nothing more of the job, and its render is the other worker's, intact.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.deepEqual(d.events.slice(eventsBefore).filter((e) => e.type === 'job.state' && e.job.id === frozen.id), []);
  assert.ok((await decodedFrames(doneFrozen.result!.output_path!)).equals(frozenRender));
  assert.equal(frozen.victim.child.exitCode, null, 'the thawed worker keeps running');

  // 2. A worker killed with -9 mid-edit: its pipeline process (inside a model call) and the watch end with it, at once.
  const killed = await runUntilCheckpoint();
  const children = descendants(killed.victim.child.pid!);
  await killed.victim.stop('SIGKILL');
  const killedAt = performance.now();
  await until(() => children.every((p) => !alive(p)), 30_000, "the dead worker's children to end");
  await until(() => retaken(killed.id).test(killed.other.output()), 300_000, `the other worker to take the job:\n${killed.other.output()}`);
  t.diagnostic(`the other worker took the job ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill (--stall-seconds ${STALL_SECONDS})`);
  const doneKilled = await reached(d, killed.id, finished, 'finished on the other worker', 300_000);
  assert.equal(doneKilled.state, 'succeeded', JSON.stringify(doneKilled.error));
  assert.match(killed.other.output(), new RegExp(`job ${killed.id.slice(0, 8)}: extract: reusing 8 frames from an earlier attempt`));
  assert.match(killed.other.output(), new RegExp(`job ${killed.id.slice(0, 8)}: (resuming the edit at step [2-8]/8 from a checkpoint|all 8 edit steps were done earlier)`));
  const probe = await ffprobeJson(doneKilled.result!.output_path!, 'stream=codec_name,nb_frames');
  assert.deepEqual(probe.streams[0], { codec_name: 'h264', nb_frames: '8' });
  // The daemon showed it: running on the victim, back in the queue, running on the other.
  const moves = states(d, killed.id).map((j) => `${j.state}${j.worker ? `@${j.worker}` : ''}`).filter((m, i, all) => m !== all[i - 1]);
  assert.deepEqual(moves, ['queued', `running@${name(killed.victim)}`, `queued@${name(killed.victim)}`, `running@${name(killed.other)}`, `succeeded@${name(killed.other)}`]);

  // 3. The same job again, uninterrupted, on the surviving worker: the same frames as both take-overs.
  const again = await submitBody(d, body);
  const uninterrupted = await reached(d, again, finished, 'the uninterrupted run finished');
  assert.equal(uninterrupted.state, 'succeeded', JSON.stringify(uninterrupted.error));
  assert.doesNotMatch(killed.other.output(), new RegExp(`job ${again.slice(0, 8)}: resuming`));
  const [killedRender, plainRender] = await Promise.all([decodedFrames(doneKilled.result!.output_path!), decodedFrames(uninterrupted.result!.output_path!)]);
  assert.equal(plainRender.length, 320 * 240 * 3 * 8);
  assert.ok(frozenRender.equals(plainRender), 'the render taken over from the frozen worker decodes to the frames of the uninterrupted one');
  assert.ok(killedRender.equals(plainRender), 'the render resumed after the kill decodes to the frames of the uninterrupted one');
});

/** Every frame of a video decoded to RGB, concatenated. */
async function decodedFrames(file: string): Promise<Buffer> {
  const { stdout } = await execFileAsync(resolveBinaries().ffmpeg, ['-v', 'error', '-nostdin', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

test('Redis killed mid-job and started again on its append-only file: nothing is lost, the daemon\'s state is true again, both jobs finish', SLOW, async (t) => {
  const home = tempDir(t, 'tf-farm-redis-');
  await freshRedis();
  const clip = await smallClip(path.join(home, 'clip.mp4'));
  const [d, worker] = await Promise.all([
    serveDaemon(path.join(home, 'editor'), ['--queue', redis.url]),
    startWorker(path.join(home, 'w1'), ['--queue', redis.url, '--output', path.join(home, 'renders'), '--work', path.join(home, 'work'), '--name', 'w1']),
  ]);
  t.after(() => Promise.all([d.stop('SIGKILL'), worker.stop('SIGKILL')]));
  const running = await submitBody(d, jobBody(clip, 'runs through a Redis restart', { steps: 3, inversion_steps: 3 }));
  const waiting = await submit(d, clip, 'waits through a Redis restart');
  await until(() => d.events.some((e) => e.type === 'job.progress' && e.job_id === running && e.stage === 'invert'), 240_000, 'the first job to run');

  await redis.kill('SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await redis.start();
  const back = d.events.length;
  // The worker's heartbeat is back in the health, and the daemon hears the running job again.
  await until(async () => ((await d.request('GET', '/v1/health')).json as Health).workers?.some((w) => w.name === 'w1') === true, 60_000, `the worker's heartbeat after the restart\n${worker.output()}`);
  const first = await reached(d, running, (j) => j.state === 'succeeded' || j.state === 'failed', 'the first job finished');
  assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
  assert.ok(d.events.slice(back).some((e) => e.type === 'job.state' && e.job.id === running && e.job.state === 'succeeded'), 'its outcome came after Redis was back');
  const second = await reached(d, waiting, (j) => j.state === 'succeeded' || j.state === 'failed', 'the queued job finished');
  assert.equal(second.state, 'succeeded', JSON.stringify(second.error));
  // Each ran once, on w1; the daemon's records say so, and nothing is left in either queue.
  for (const id of [running, waiting]) {
    assert.equal((worker.output().match(new RegExp(`job ${id.slice(0, 8)}: started`, 'g')) ?? []).length, 1, worker.output());
    assert.deepEqual([(await d.job(id)).state, (await d.job(id)).worker], ['succeeded', 'w1']);
  }
  const health = (await d.request('GET', '/v1/health')).json as Health;
  assert.deepEqual(health.queue, { queued: 0, running: 0 });
  assert.deepEqual(health.workers!.map((w) => [w.name, w.jobs]), [['w1', []]]);
});

test('a worker killed with -9 while encoding, its parent-death watch failing too: started again, it kills the ffmpeg it left running and finishes the job', { ...SLOW, skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const home = tempDir(t, 'tf-farm-orphans-');
  await freshRedis();
  // 1280x720: the encode lasts long enough to be caught writing.
  const clip = await makeClip(path.join(home, 'clip.mp4'), { width: 1280, height: 720, rate: '10', frames: 8 });
  const renders = path.join(home, 'renders');
  const workerHome = path.join(home, 'w1');
  const workerArgs = ['--queue', redis.url, '--output', renders, '--work', path.join(home, 'work'), '--name', 'w1', '--stall-seconds', String(STALL_SECONDS)];
  const [d, first] = await Promise.all([serveDaemon(path.join(home, 'editor'), ['--queue', redis.url]), startWorker(workerHome, workerArgs)]);
  t.after(() => Promise.all([d.stop('SIGKILL'), first.stop('SIGKILL')]));
  const id = await submit(d, clip, 'a worker killed while encoding');
  await until(() => fs.existsSync(renders) && fs.readdirSync(renders).some((f) => f.endsWith('.partial')), 240_000, `the encoder writing\n${first.output()}`);
  const orphans = processesNaming(renders);
  assert.ok(orphans.length > 0, 'the encoder runs');
  // Frozen, so it is surely still there when the worker starts again, however fast it encodes;
  // and the parent-death watch frozen, then killed, as if it had failed: the start-up cleanup
  // is the second line of defence.
  const frozen = freezeWithWatch(first.child.pid!, orphans);
  assert.equal(frozen.watchers.length, 1, 'one parent-death watch');
  t.after(() => orphans.filter(alive).forEach((pid) => process.kill(pid, 'SIGKILL')));
  await first.stop('SIGKILL');
  frozen.killWatchers();
  // The records of its children are in its own data folder, not on the shared storage.
  assert.ok(fs.readdirSync(path.join(workerHome, 'data', 'workers', 'w1', 'children')).length > 0);

  const again = await startWorker(workerHome, workerArgs);
  t.after(() => again.stop('SIGKILL'));
  assert.deepEqual(orphans.filter(alive), [], `the dead worker's ffmpeg outlived its restart:\n${again.output()}`);
  assert.match(again.output(), /killed ffmpeg \(pid \d+\), left running by a worker that did not stop cleanly/);
  const done = await reached(d, id, (j) => j.state === 'succeeded' || j.state === 'failed', 'finished after the restart', 300_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.match(again.output(), new RegExp(`job ${id.slice(0, 8)}: pipeline: reusing the edited frames from an earlier attempt`));
  // The dead attempt's partial render went when the job started again.
  assert.match(again.output(), new RegExp(`job ${id.slice(0, 8)}: removed \.clip_a-worker-killed-while-encoding_.*\.partial, left by an earlier attempt`));
  assert.deepEqual(fs.readdirSync(renders), [path.basename(done.result!.output_path!)]);
  // A second worker of the same name on the same data folder is refused: it would kill this one's children.
  const twin = await tokenflow(['worker', ...workerArgs], daemonEnv(workerHome));
  assert.equal(twin.code, 1);
  assert.match(twin.stderr, new RegExp(`a worker named "w1" is already running with this data folder \\(pid ${again.child.pid}\\)`));
});
