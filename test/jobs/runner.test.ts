// The job runner end to end with real ffmpeg (companion/media) on small lavfi clips and the
// colour-inverting test pipeline in its worker thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobService } from '../../companion/jobs/service.ts';
import { extractFrames, probe, readFrame } from '../../companion/media/index.ts';
import type { JobRecord } from '../../shared/jobs.ts';
import { ffmpeg, frameIndex, makeClip } from '../media/clips.ts';
import { sampleRequest, tempDir, waitFor } from './helpers.ts';

const pipeline = (query: string) => new URL(`./doubles/invert_pipeline.ts?${query}`, import.meta.url);

async function service(t: { after(fn: () => void | Promise<void>): void }, root: string, query = 'delay=1&steps=2') {
  const s = new JobService({ dataDir: path.join(root, 'data'), outputDir: path.join(root, 'renders'), pipelineModule: pipeline(query) });
  await s.start();
  t.after(() => s.close());
  return s;
}

/** An index-bars clip with a sine tone over its whole length. */
async function clipWithAudio(file: string, o: { width: number; height: number; rate: string; frames: number; seconds: number }) {
  const video = await makeClip(`${file}.video.mp4`, o);
  await ffmpeg(['-i', video, '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${o.seconds}`, '-map', '0:v', '-map', '1:a', '-c:v', 'copy', '-c:a', 'aac', file]);
  fs.rmSync(video);
  return file;
}

async function settled(s: JobService, id: string): Promise<JobRecord> {
  await waitFor(() => ['succeeded', 'failed', 'canceled'].includes(s.get(id)!.state), 60_000, `job ${id}`);
  return s.get(id)!;
}

test('real media: the range is extracted, edited, and rendered as ProRes with its audio', async (t) => {
  const root = tempDir(t);
  const source = await clipWithAudio(path.join(root, 'Beach Walk.mp4'), { width: 96, height: 64, rate: '10', frames: 12, seconds: 1.2 });
  const s = await service(t, root);
  const { job } = await s.submit(sampleRequest(source, {
    range: { start_seconds: 0.2, end_seconds: 1 }, // frames 2..9
    output_kind: 'video+audio',
    parameters: { short_side: 64 },
  }));
  const done = await settled(s, job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const out = done.result!.output_path!;
  assert.equal(path.dirname(out), fs.realpathSync(path.join(root, 'renders')));
  assert.equal(path.basename(out), `beach-walk_a-red-fox_${job.id.slice(0, 8)}.mov`);
  assert.equal(done.result!.frame_count, 8);
  assert.equal(done.result!.frame_rate, '10/1');
  assert.equal(done.result!.has_audio, true);
  assert.equal(done.result!.codec, 'prores');
  assert.deepEqual([done.result!.width, done.result!.height], [96, 64]);
  const info = await probe(out);
  assert.equal(info.video.codec, 'prores');
  assert.equal(info.video.frameCount, 8);
  assert.equal(info.audio.length, 1);
  // The test pipeline inverts colours: the index bars of source frame i read back as ~i.
  const work = tempDir(t);
  const frames = await extractFrames({ input: out, startTicks: 0n, endTicks: BigInt(info.video.durationTicks), shortSide: 64, workDir: work });
  const indices = [];
  for (let i = 0; i < frames.count; i++) indices.push(~frameIndex(await readFrame(frames, i), frames.width, frames.height) & 0xff);
  assert.deepEqual(indices, [2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(fs.readdirSync(path.join(root, 'renders')), [path.basename(out)]);
});

test('real media: H.264 video-only render is an .mp4 without audio', async (t) => {
  const root = tempDir(t);
  const source = await clipWithAudio(path.join(root, 'clip.mp4'), { width: 96, height: 64, rate: '30000/1001', frames: 9, seconds: 0.3 });
  const s = await service(t, root);
  const { job } = await s.submit(sampleRequest(source, { range: { start_ticks: '0', end_ticks: String(8475667200n * 6n) }, codec: 'h264', parameters: { short_side: 64 } }));
  const done = await settled(s, job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.match(done.result!.output_path!, /\.mp4$/);
  assert.equal(done.result!.frame_count, 6);
  assert.equal(done.result!.frame_rate, '30000/1001');
  assert.equal(done.result!.has_audio, false);
  const info = await probe(done.result!.output_path!);
  assert.equal(info.video.codec, 'h264');
  assert.equal(info.audio.length, 0);
});

test('real media: cancel during the encode leaves no partial render', async (t) => {
  const root = tempDir(t);
  const source = await makeClip(path.join(root, 'long.mp4'), { width: 320, height: 192, rate: '25', frames: 100 });
  const s = await service(t, root, 'delay=0&steps=1');
  const { job } = await s.submit(sampleRequest(source, { range: { start_seconds: 0, end_seconds: 4 }, parameters: { short_side: 192 } }));
  await waitFor(() => s.get(job.id)!.stage === 'encode', 60_000, 'encode under way');
  await new Promise((r) => setTimeout(r, 50)); // let ffmpeg start writing
  await s.cancel(job.id);
  await waitFor(() => s.get(job.id)!.state === 'canceled', 5_000, 'canceled');
  assert.deepEqual(fs.readdirSync(path.join(root, 'renders')), []);
});

test('real media: a file that is not a video is refused at submit with the reason', async (t) => {
  const root = tempDir(t);
  const notVideo = path.join(root, 'notes.txt');
  fs.writeFileSync(notVideo, 'hello');
  const s = await service(t, root);
  await assert.rejects(s.submit(sampleRequest(notVideo)), (e: unknown) => {
    assert.equal((e as { code: string }).code, 'media_invalid');
    assert.equal((e as { field: string }).field, 'source_path');
    assert.match((e as Error).message, /notes\.txt/);
    return true;
  });
  assert.equal(s.list().length, 0);
});
