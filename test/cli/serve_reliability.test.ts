// `tokenflow serve` under cancel, SIGTERM and kill -9, as a user meets them: a real daemon on
// loopback, real ffmpeg, the bundled tiny model (real graphs, random weights). A cancel at any
// stage must leave the daemon serving and the next queued job running; SIGTERM must exit 0 and
// the job resume on the next start; after kill -9 no child of the dead daemon may survive it
// (the parent-death watch), nor the next start (its second line of defence), nor any `.partial`
// file it was writing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { EventOf } from '../../shared/events.ts';
import type { JobRecord, Stage } from '../../shared/jobs.ts';
import { ffmpeg, makeClip } from '../media/clips.ts';
import { tempDir } from '../helpers/cli.ts';
import { commandLine, descendants, freezeWithWatch, processesNaming, running as alive } from '../helpers/processes.ts';
import { serveDaemon, until, type ServedDaemon } from '../helpers/served_daemon.ts';

const SLOW = { timeout: 600_000 };

/** 8 frames at 1280x720, processed at 112x64 (each UNet call cheap): an encode at the source size long enough to catch. */
async function setup(t: { after(fn: () => void): void }) {
  const home = tempDir(t, 'tf-serve-rel-');
  const clip = await makeClip(path.join(home, 'clip.mp4'), { width: 1280, height: 720, rate: '10', frames: 8 });
  return { home, clip, renders: path.join(home, 'renders') };
}

function jobBody(clip: string, prompt: string, endSeconds = 0.8) {
  return {
    source_path: clip, range: { start_seconds: 0, end_seconds: endSeconds }, prompt, codec: 'h264',
    parameters: { steps: 1, inversion_steps: 1, short_side: 64, batch_size: 8 },
  };
}

async function submit(d: ServedDaemon, clip: string, prompt: string, endSeconds?: number): Promise<string> {
  const res = await d.request('POST', '/v1/jobs', jobBody(clip, prompt, endSeconds));
  assert.equal(res.status, 202, JSON.stringify(res.json));
  return (res.json as { job: JobRecord }).job.id;
}

function stateEvents(d: ServedDaemon, id: string): JobRecord[] {
  return d.events.filter((e): e is EventOf<'job.state'> => e.type === 'job.state' && e.job.id === id).map((e) => e.job);
}

async function reached(d: ServedDaemon, id: string, predicate: (j: JobRecord) => boolean, what: string, ms = 180_000): Promise<JobRecord> {
  await until(() => stateEvents(d, id).some(predicate), ms, `job ${id.slice(0, 8)}: ${what}`);
  return stateEvents(d, id).find(predicate)!;
}

test('cancel at every stage: the job is canceled, the daemon keeps serving, the next queued job runs (cancel + DELETE at once too)', SLOW, async (t) => {
  const { home, clip, renders } = await setup(t);
  const d = await serveDaemon(home);
  t.after(() => d.stop('SIGKILL'));
  // The encode target runs first (it inverts the clip and leaves its inversion in the cache)
  // while the others are submitted, so every later job is queued behind a running one and its
  // stages are all seen. The invert target edits another range: its inversion is not cached.
  // A probe takes a few tens of ms, about a cancel's round trip: the probe targets are a 4K
  // clip (slower to probe), two of them, and one cancel at least must land in the probe.
  const probeClip = await makeClip(path.join(home, 'big.mp4'), { width: 3840, height: 2160, rate: '10', frames: 2 });
  const stages: Stage[] = ['encode', 'probe', 'probe', 'extract', 'invert', 'edit', 'decode'];
  const ids: string[] = [];
  for (const stage of stages) {
    ids.push(await submit(d, stage === 'probe' ? probeClip : clip, `cancel during ${stage}`, stage === 'probe' ? 0.2 : stage === 'invert' ? 0.7 : 0.8));
  }
  const lastId = await submit(d, clip, 'the last job');
  const canceledIn: string[] = [];
  for (const [i, stage] of stages.entries()) {
    const id = ids[i]!;
    await reached(d, id, (j) => j.state === 'running' && j.stage === stage, `running ${stage}`);
    const sent = performance.now();
    const cancel = d.request('POST', `/v1/jobs/${id}/cancel`);
    // Where the daemon used to abort: a DELETE right behind the cancel, while the job still runs.
    const del = stage === 'invert' || stage === 'edit' ? d.request('DELETE', `/v1/jobs/${id}`) : null;
    assert.equal((await cancel).status, 200);
    if (del) assert.ok([204, 409].includes((await del).status), `DELETE right after cancel: ${(await del).status}`);
    const canceled = await reached(d, id, (j) => j.state === 'canceled', 'canceled', 30_000);
    const where = /^canceled during (\w+)$/.exec(canceled.error?.message ?? '')?.[1];
    t.diagnostic(`cancel sent during ${stage}: canceled during ${where}, ${(performance.now() - sent).toFixed(0)} ms after the request`);
    assert.equal(where, stage === 'probe' && where === 'extract' ? 'extract' : stage, canceled.error?.message);
    canceledIn.push(where!);
    assert.equal((await d.request('GET', '/v1/health')).status, 200, `health after the cancel during ${stage}`);
    // The next job in the queue has started.
    await reached(d, ids[i + 1] ?? lastId, (j) => j.state === 'running', 'started after the cancel', 30_000);
  }
  assert.ok(canceledIn.includes('probe'), `no cancel landed in a probe: ${canceledIn.join(', ')}`);
  const last = await reached(d, lastId, (j) => j.state === 'succeeded' || j.state === 'failed', 'finished');
  assert.equal(last.state, 'succeeded', JSON.stringify(last.error));
  assert.ok(fs.existsSync(last.result!.output_path!));
  assert.equal(d.child.exitCode, null, `the daemon is still running:\n${d.output()}`);
  assert.doesNotMatch(d.output(), /terminate called|Napi::Error/);
  // Only the last job's render is in the output folder: the canceled ones left nothing.
  assert.deepEqual(fs.readdirSync(renders), [path.basename(last.result!.output_path!)]);
  assert.equal(await d.stop('SIGTERM'), 0);
});

test('SIGTERM during edit: the daemon exits 0, and the job resumes on the next start and succeeds', SLOW, async (t) => {
  const { home, clip } = await setup(t);
  const first = await serveDaemon(home);
  t.after(() => first.stop('SIGKILL'));
  const id = await submit(first, clip, 'a job stopped by SIGTERM');
  await reached(first, id, (j) => j.stage === 'edit', 'edit');
  assert.equal(await first.stop('SIGTERM'), 0, first.output());
  assert.match(first.output(), /paused during edit/);
  assert.doesNotMatch(first.output(), /terminate called|Napi::Error/);

  const second = await serveDaemon(home);
  t.after(() => second.stop('SIGKILL'));
  const done = await reached(second, id, (j) => j.state === 'succeeded' || j.state === 'failed', 'finished');
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.attempts, 2);
  assert.ok(fs.existsSync(done.result!.output_path!));
  assert.equal(await second.stop('SIGTERM'), 0);
});

/** Sizes of the files in `dir`, by name. */
function sizes(dir: string): Record<string, number> {
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).size]));
}

for (const stage of ['extract', 'edit', 'encode'] as const) {
  test(`kill -9 during ${stage}, no restart: every child of the dead daemon ends by itself and nothing writes to the output folder`, { ...SLOW, skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
    const { home, clip: smallClip, renders } = await setup(t);
    // A clip whose extract lasts long enough to be caught (plain test pattern: quick to make).
    const clip = stage === 'extract'
      ? path.join(home, 'long.mp4')
      : smallClip;
    if (stage === 'extract') await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=1920x1080:r=10', '-frames:v', '60', '-c:v', 'libx264', '-preset', 'ultrafast', clip]);
    const d = await serveDaemon(home);
    t.after(() => d.stop('SIGKILL'));
    const id = await submit(d, clip, `a job killed during ${stage}`, stage === 'extract' ? 6 : 0.8);
    await reached(d, id, (j) => j.stage === stage, stage);
    if (stage !== 'edit') {
      // The ffmpeg of the stage, frozen so that it surely runs when the daemon dies.
      const mark = stage === 'extract' ? 'rawvideo' : '.partial';
      await until(() => descendants(d.child.pid!).some((p) => commandLine(p).includes(mark)), 60_000, `the ffmpeg of ${stage}`);
      for (const p of descendants(d.child.pid!).filter((p) => commandLine(p).includes(mark))) process.kill(p, 'SIGSTOP');
    }
    const children = descendants(d.child.pid!);
    t.after(() => children.filter(alive).forEach((p) => process.kill(p, 'SIGKILL')));
    const named = children.map((p) => `${p} ${commandLine(p).slice(0, 160)}`).join('\n');
    // The pipeline process starts with the first invert and is kept for the next job.
    if (stage !== 'extract') assert.ok(children.some((p) => commandLine(p).includes('pipeline_process/entry')), `the pipeline process runs:\n${named}`);
    if (stage !== 'edit') assert.ok(children.some((p) => /ffmpeg/.test(commandLine(p))), `ffmpeg runs:\n${named}`);

    assert.equal(await d.stop('SIGKILL'), null);
    const killed = performance.now();
    await until(() => children.every((p) => !alive(p)), 30_000, `the dead daemon's children to end:\n${named}`);
    t.diagnostic(`${children.length} children of the daemon killed during ${stage} ended ${(performance.now() - killed).toFixed(0)} ms after it`);
    // Nothing is left that could write to the output folder: what is there stays as it is.
    const left = sizes(renders);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(sizes(renders), left);
    assert.deepEqual(processesNaming(renders), []);
  });
}

test('kill -9 during encode with the watch stopped too: the next start kills the orphaned ffmpeg and removes its .partial; the resumed job succeeds', { ...SLOW, skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const { home, clip, renders } = await setup(t);
  const first = await serveDaemon(home);
  t.after(() => first.stop('SIGKILL'));
  const id = await submit(first, clip, 'a job killed while encoding');
  await reached(first, id, (j) => j.stage === 'encode', 'encode');
  await until(() => fs.existsSync(renders) && fs.readdirSync(renders).some((f) => f.endsWith('.partial')), 30_000, 'the encoder writing');
  const orphans = processesNaming(renders);
  assert.ok(orphans.length > 0, 'the encoder runs');
  // Frozen, so it is surely still there when the next daemon starts, however fast it encodes;
  // and the parent-death watch frozen, then killed, as if it had failed: the start-up cleanup
  // is the second line of defence.
  const frozen = freezeWithWatch(first.child.pid!, orphans);
  assert.equal(frozen.watchers.length, 1, 'one parent-death watch');
  t.after(() => orphans.filter(alive).forEach((pid) => process.kill(pid, 'SIGKILL')));
  assert.equal(await first.stop('SIGKILL'), null);
  frozen.killWatchers();
  const partials = fs.readdirSync(renders).filter((f) => f.endsWith('.partial'));
  assert.ok(partials.length > 0);

  const second = await serveDaemon(home);
  t.after(() => second.stop('SIGKILL'));
  assert.deepEqual(orphans.filter(alive), [], `the dead daemon's ffmpeg outlived the next start:\n${second.output()}`);
  assert.match(second.output(), /killed ffmpeg \(pid \d+\), left running by a daemon that did not stop cleanly/);
  for (const f of partials) assert.ok(!fs.existsSync(path.join(renders, f)), `${f} was left behind`);

  const done = await reached(second, id, (j) => j.state === 'succeeded' || j.state === 'failed', 'finished');
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.attempts, 2);
  assert.deepEqual(fs.readdirSync(renders), [path.basename(done.result!.output_path!)]);
  const progress = second.events.filter((e): e is EventOf<'job.progress'> => e.type === 'job.progress' && e.job_id === id);
  assert.ok(progress.length > 0);
  // Not even a display rounding to two decimals may read 1.00 before the render exists.
  for (const p of progress) assert.ok(p.overall.toFixed(2) !== '1.00', `progress ${p.overall} during ${p.stage} before the render existed`);
  for (const j of stateEvents(second, id).filter((j) => j.state !== 'succeeded')) assert.ok(j.progress.overall.toFixed(2) !== '1.00', `${j.state} ${j.stage}: ${j.progress.overall}`);
  assert.equal(await second.stop('SIGTERM'), 0);
});
