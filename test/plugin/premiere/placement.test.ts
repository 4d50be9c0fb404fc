import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PremiereAdapter } from '../../../plugin/src/premiere/adapter.ts';
import type { ClipRef } from '../../../plugin/src/premiere/clip.ts';
import { PlacementError, UNDO_LABELS } from '../../../plugin/src/premiere/placement.ts';
import type { Ppro } from '../../../plugin/src/premiere/ppro.ts';
import { createFakePremiere, TPS } from '../fake_premierepro.ts';

const TPF = TPS / 24n;
const RENDER = '/renders/job-1.mov';

async function world(options: { tracks?: number } = {}) {
  const fake = createFakePremiere();
  fake.addMedia({ path: '/media/run.mov', fps: 24, frames: 240, hasAudio: true });
  fake.addMedia({ path: '/media/other.mov', fps: 24, frames: 240 });
  fake.addMedia({ path: RENDER, fps: 24, frames: 48 });
  const seq = fake.addSequence('Main', TPF, options.tracks ?? 3, 2);
  const source = fake.addTrackItem(seq, { track: 0, item: fake.addClip('/media/run.mov'), startFrame: 100, inFrame: 24, frames: 48, audioTrack: 0 });
  const adapter = new PremiereAdapter(fake.ppro as unknown as Ppro, { recheckMs: 5 });
  fake.select(seq, source);
  const selected = await adapter.readSelection();
  assert.ok(selected.ok);
  const ref: ClipRef = selected.clip;
  return { fake, seq, source, adapter, ref };
}

const range = (from: number, to: number) => ({ start: (TPF * BigInt(from)).toString(), end: (TPF * BigInt(to)).toString() });

test('places the render on the free track above at the same time, as one undo step', async () => {
  const { fake, seq, adapter, ref } = await world();
  const result = await adapter.importAndPlace({ path: RENDER, clip: ref, mode: 'above', renderTicks: TPF * 48n });
  assert.deepEqual(result, { mode: 'above', trackIndex: 1, newTrack: false });
  const timeline = fake.timeline(seq);
  assert.deepEqual(timeline[1], [{ name: 'job-1.mov', path: RENDER, ...range(100, 148) }]);
  assert.deepEqual(timeline[0], [{ name: 'run.mov', path: '/media/run.mov', ...range(100, 148) }], 'source untouched');
  assert.deepEqual(fake.undoLabels(), ['Create bin TokenFlow renders', UNDO_LABELS.above]);
  assert.equal(seq.audioTracks[0].items.length, 1, 'audio untouched');
  fake.undo();
  assert.deepEqual(fake.timeline(seq)[1], [], 'one undo removes the placement');
});

test('skips an occupied track, and adds a new track on top when all above are taken', async () => {
  const { fake, seq, adapter, ref } = await world({ tracks: 3 });
  fake.addTrackItem(seq, { track: 1, item: fake.addClip('/media/other.mov'), startFrame: 140, frames: 20 });
  const first = await adapter.importAndPlace({ path: RENDER, clip: ref, mode: 'above' });
  assert.equal(first.trackIndex, 2);
  assert.equal(first.newTrack, false);
  fake.addMedia({ path: '/renders/job-2.mov', fps: 24, frames: 48 });
  const second = await adapter.importAndPlace({ path: '/renders/job-2.mov', clip: ref, mode: 'above' });
  assert.deepEqual(second, { mode: 'above', trackIndex: 3, newTrack: true });
  assert.equal(seq.videoTracks.length, 4);
  assert.deepEqual(fake.timeline(seq)[3], [{ name: 'job-2.mov', path: '/renders/job-2.mov', ...range(100, 148) }]);
  assert.deepEqual(fake.timeline(seq)[1], [{ name: 'other.mov', path: '/media/other.mov', ...range(140, 160) }], 'occupied track untouched');
  fake.undo();
  assert.equal(seq.videoTracks.length, 3, 'undo removes the new track too');
});

test('replace overwrites the clip on its own track, linked audio kept', async () => {
  const { fake, seq, adapter, ref } = await world();
  const result = await adapter.importAndPlace({ path: RENDER, clip: ref, mode: 'replace', renderTicks: TPF * 48n });
  assert.deepEqual(result, { mode: 'replace', trackIndex: 0, newTrack: false });
  assert.deepEqual(fake.timeline(seq)[0], [{ name: 'job-1.mov', path: RENDER, ...range(100, 148) }]);
  assert.equal(seq.audioTracks[0].items.length, 1);
  assert.equal(fake.undoLabels().at(-1), UNDO_LABELS.replace);
  fake.undo();
  assert.deepEqual(fake.timeline(seq)[0], [{ name: 'run.mov', path: '/media/run.mov', ...range(100, 148) }]);
});

test('a render of the wrong length is never used to replace; above places it with a warning', async () => {
  const { fake, seq, adapter, ref } = await world();
  await assert.rejects(
    adapter.importAndPlace({ path: RENDER, clip: ref, mode: 'replace', renderTicks: TPF * 40n }),
    (e: unknown) => e instanceof PlacementError && e.code === 'length_mismatch' && /40 frames long but the clip is 48/.test(e.message),
  );
  assert.deepEqual(fake.timeline(seq)[0].map((e) => e.name), ['run.mov']);
  assert.ok(fake.bin('TokenFlow renders')!.items.length === 1, 'the render is still imported into the bin');
  const above = await adapter.importAndPlace({ path: RENDER, clip: ref, mode: 'above', renderTicks: TPF * 40n });
  assert.match(above.warning ?? '', /40 frames long/);
});

test('source moved or sequence gone: clear errors, nothing placed', async () => {
  const { fake, seq, source, adapter, ref } = await world();
  source.start += TPF;
  source.end += TPF;
  await assert.rejects(adapter.importAndPlace({ path: RENDER, clip: ref, mode: 'above' }), (e: unknown) => e instanceof PlacementError && e.code === 'source_moved');
  await assert.rejects(adapter.importAndPlace({ path: RENDER, clip: { ...ref, sequenceGuid: 'gone' }, mode: 'above' }), (e: unknown) => e instanceof PlacementError && e.code === 'sequence_gone');
  assert.deepEqual(fake.timeline(seq)[1], []);
  assert.deepEqual(fake.undoLabels(), ['Create bin TokenFlow renders']);
});

test('selection changes reach the listener until unsubscribed', async () => {
  const { fake, seq, source, adapter } = await world();
  let calls = 0;
  const off = adapter.onSelectionChanged(() => calls++);
  fake.select(seq, source);
  fake.emit(fake.constants.SequenceEvent.ACTIVATED);
  assert.equal(calls, 2);
  off();
  fake.select(seq);
  assert.equal(calls, 2);
  assert.equal(fake.listenerCount(fake.constants.SequenceEvent.SELECTION_CHANGED), 0);
});
