// kill -9 the daemon mid-job: the job must come back with its true state, resume from its
// last completed stage, and be given up (interrupted) after the attempt cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { JobService } from '../../companion/jobs/service.ts';
import { fakeMedia } from './doubles/fake_media.ts';
import { tempDir, waitFor } from './helpers.ts';

const CHILD = fileURLToPath(new URL('./doubles/daemon_child.ts', import.meta.url));

interface Line {
  id: string;
  state: string;
  stage: string | null;
  attempts: number;
}

/** Runs the child daemon until it reports `stage`, then SIGKILLs it; returns what it printed. */
async function runAndKill(args: string[], stage: string): Promise<Line[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Line[] = [];
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  for await (const text of readline.createInterface({ input: child.stdout })) {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    if (line.stage === stage && line.state === 'running') {
      child.kill('SIGKILL');
      break;
    }
  }
  assert.equal(await exited, 'SIGKILL');
  return lines;
}

function dirs(t: { after(fn: () => void): void }) {
  const root = tempDir(t);
  const source = path.join(root, 'clip.mov');
  fs.writeFileSync(source, 'x');
  return { dataDir: path.join(root, 'data'), outputDir: path.join(root, 'renders'), source };
}

test('kill -9 during edit: on restart the job is re-queued and resumes after extract', async (t) => {
  const { dataDir, outputDir, source } = dirs(t);
  const lines = await runAndKill([dataDir, outputDir, source, 'submit'], 'edit');
  const id = lines[0].id;
  assert.deepEqual(lines.map((l) => l.stage), [null, null, 'probe', 'extract', 'invert', 'edit']);

  const media = fakeMedia();
  const service = new JobService({ dataDir, outputDir, media, pipelineModule: new URL('./doubles/invert_pipeline.ts?delay=1&steps=2', import.meta.url) });
  const logs: string[] = [];
  service.on('job.log', (e) => logs.push(e.message));
  await service.start();
  t.after(() => service.close());
  await waitFor(() => service.get(id)!.state === 'succeeded', 15_000, 'resumed job');
  const job = service.get(id)!;
  assert.equal(job.attempts, 2);
  assert.equal(media.calls.extract, 0, 'extract was done before the kill and not repeated');
  assert.ok(logs.some((l) => /reusing 6 frames/.test(l)));
  assert.ok(fs.existsSync(job.result!.output_path!));
});

test('kill -9 before anything ran: the queued job is still there and runs', async (t) => {
  const { dataDir, outputDir, source } = dirs(t);
  const lines = await runAndKill([dataDir, outputDir, source, 'submit'], 'probe');
  const service = new JobService({ dataDir, outputDir, media: fakeMedia(), pipelineModule: new URL('./doubles/invert_pipeline.ts?delay=1&steps=1', import.meta.url) });
  await service.start();
  t.after(() => service.close());
  assert.equal(service.list().length, 1);
  await waitFor(() => service.get(lines[0].id)!.state === 'succeeded', 15_000);
});

test('the daemon dying under the same job 3 times: interrupted with the reason, not run again', async (t) => {
  const { dataDir, outputDir, source } = dirs(t);
  const first = await runAndKill([dataDir, outputDir, source, 'submit'], 'invert');
  const id = first[0].id;
  const second = await runAndKill([dataDir, outputDir, source], 'invert');
  assert.deepEqual(second.at(-1), { id, state: 'running', stage: 'invert', attempts: 2 });
  const third = await runAndKill([dataDir, outputDir, source], 'invert');
  assert.equal(third.at(-1)!.attempts, 3);

  const media = fakeMedia();
  const daemonLog: string[] = [];
  const service = new JobService({
    dataDir,
    outputDir,
    media,
    pipelineModule: new URL('./doubles/invert_pipeline.ts?delay=1&steps=1', import.meta.url),
    log: (_level, message) => daemonLog.push(message),
  });
  await service.start();
  t.after(() => service.close());
  const job = service.get(id)!;
  assert.equal(job.state, 'interrupted');
  // The stage each kill hit is the last one persisted; under load a kill can land before the
  // child's 'invert' stage record is written, so the wording may list the stages.
  assert.equal(job.error?.code, 'interrupted');
  assert.match(job.error!.message, /^daemon stopped (during invert 3 times|3 times while this job ran \(during [a-z, ]+\))$/);
  assert.equal(job.attempts, 3);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(media.calls.probe, 0, 'not started again');
  assert.deepEqual(service.snapshot(), []);
  assert.ok(daemonLog.some((l) => l === `job ${id}: not resumed: ${job.error!.message}`), daemonLog.join('\n'));
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'work')), [], 'its work folder was removed');
});
