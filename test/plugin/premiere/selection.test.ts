import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readSelectedClip } from '../../../plugin/src/premiere/selection.ts';
import type { Ppro } from '../../../plugin/src/premiere/ppro.ts';
import { createFakePremiere, TPS } from '../fake_premierepro.ts';

const TPF24 = TPS / 24n;
const TPF23976 = 10594584000n;

function world() {
  const fake = createFakePremiere();
  fake.addMedia({ path: '/media/run.mov', fps: 24000 / 1001, ticksPerFrame: TPF23976, frames: 240, hasAudio: true });
  fake.addMedia({ path: '/media/logo.png', kind: 'image' });
  fake.addMedia({ path: '/media/voice.wav', kind: 'audio' });
  const seq = fake.addSequence('Main', TPF23976, 3, 2);
  const run = fake.addClip('/media/run.mov');
  const item = fake.addTrackItem(seq, { track: 1, item: run, startFrame: 100, inFrame: 24, frames: 48, audioTrack: 0 });
  return { fake, seq, run, item, ppro: fake.ppro as unknown as Ppro };
}

async function refusal(ppro: Ppro): Promise<string> {
  const result = await readSelectedClip(ppro);
  assert.equal(result.ok, false, 'expected a refusal');
  return result.ok ? '' : result.refusal.code;
}

test('reads the selected video clip: path, source range, sequence time, track, rates', async () => {
  const { fake, seq, item, ppro } = world();
  fake.selectLinked(seq, item);
  const result = await readSelectedClip(ppro);
  assert.ok(result.ok, JSON.stringify(result));
  const clip = result.clip;
  assert.equal(clip.mediaPath, '/media/run.mov');
  assert.equal(clip.name, 'run.mov');
  assert.equal(clip.trackIndex, 1);
  assert.equal(clip.inTicks, (TPF23976 * 24n).toString());
  assert.equal(clip.outTicks, (TPF23976 * 72n).toString());
  assert.equal(clip.startTicks, (TPF23976 * 100n).toString());
  assert.equal(clip.endTicks, (TPF23976 * 148n).toString());
  assert.equal(clip.frameCount, 48);
  assert.equal(clip.sequenceTicksPerFrame, TPF23976.toString());
  assert.ok(Math.abs(clip.durationSeconds - 48 * 1.001 / 24) < 1e-9);
  assert.equal(clip.sequenceGuid, seq.guid.toString());
  assert.equal(clip.sequenceName, 'Main');
});

test('media and sequence rates may differ at 100% speed', async () => {
  const fake = createFakePremiere();
  fake.addMedia({ path: '/media/pal.mov', fps: 25, frames: 100 });
  const seq = fake.addSequence('24p', TPF24, 2, 1);
  const item = fake.addTrackItem(seq, { track: 0, item: fake.addClip('/media/pal.mov'), startFrame: 0, frames: 50 });
  // Premiere lays 2 s of 25p media as 48 sequence frames: the span matches within a frame.
  item.end = item.start + TPF24 * 48n;
  fake.select(seq, item);
  const result = await readSelectedClip(fake.ppro as unknown as Ppro);
  assert.ok(result.ok);
  assert.equal(result.clip.frameCount, 50);
  assert.equal(result.clip.mediaFps, 25);
});

test('refusals: nothing, audio only, several clips', async () => {
  const { fake, seq, item, run, ppro } = world();
  assert.equal(await refusal(ppro), 'nothing_selected');
  const audio = seq.audioTracks[0].items[0];
  fake.select(seq, audio);
  assert.equal(await refusal(ppro), 'audio_only');
  const other = fake.addTrackItem(seq, { track: 0, item: run, startFrame: 0, frames: 10 });
  fake.select(seq, item, other);
  const result = await readSelectedClip(ppro);
  assert.ok(!result.ok);
  assert.equal(result.refusal.code, 'several_clips');
  assert.match(result.refusal.message, /^2 video clips are selected/);
});

test('refusals: no project, no sequence', async () => {
  const { fake, ppro } = world();
  fake.project.activeSequence = undefined;
  assert.equal(await refusal(ppro), 'no_sequence');
  fake.activeProject = undefined;
  assert.equal(await refusal(ppro), 'no_project');
});

test('refusals: nested sequence, still image, multicam, merged, offline, adjustment layer, no media', async () => {
  const { fake, seq, ppro } = world();
  const nested = fake.addNestedSequenceClip(fake.addSequence('Inner', TPF24));
  const cases: [string, () => void][] = [
    ['nested_sequence', () => fake.select(seq, fake.addTrackItem(seq, { track: 2, item: nested, startFrame: 0, frames: 10 }))],
    ['still_image', () => fake.select(seq, fake.addTrackItem(seq, { track: 2, item: fake.addClip('/media/logo.png'), startFrame: 0, frames: 10 }))],
  ];
  for (const [code, arrange] of cases) {
    arrange();
    assert.equal(await refusal(ppro), code);
  }
  const flags: [string, (c: any, i: any) => void][] = [
    ['multicam', (c) => (c.multicam = true)],
    ['merged_clip', (c) => (c.merged = true)],
    ['offline', (c) => (c.offline = true)],
    ['adjustment_layer', (_c, i) => (i.adjustment = true)],
  ];
  for (const [code, flag] of flags) {
    fake.addMedia({ path: `/media/${code}.mov`, fps: 24, frames: 48 });
    const clip = fake.addClip(`/media/${code}.mov`);
    const item = fake.addTrackItem(seq, { track: 2, item: clip, startFrame: 0, frames: 10 });
    flag(clip, item);
    fake.select(seq, item);
    assert.equal(await refusal(ppro), code);
  }
});

test('speed and reverse are refused with the speed in the message, never rendered wrong', async () => {
  const { fake, seq, item, ppro } = world();
  fake.select(seq, item);
  item.speed = 1.5;
  const result = await readSelectedClip(ppro);
  assert.ok(!result.ok);
  assert.equal(result.refusal.code, 'speed_changed');
  assert.match(result.refusal.message, /150% speed/);
  item.speed = 1;
  item.reversed = 1;
  assert.equal(await refusal(ppro), 'reversed');
});

test('a timeline span that disagrees with the source range is refused (time remapping)', async () => {
  const { fake, seq, item, ppro } = world();
  fake.select(seq, item);
  item.end += TPF23976 * 5n;
  assert.equal(await refusal(ppro), 'time_remapped');
});

test('reading the selection asks about the selected items only, not every clip in the sequence', async () => {
  const fake = createFakePremiere();
  fake.addMedia({ path: '/media/a.mov', fps: 24, frames: 10_000, hasAudio: true });
  const seq = fake.addSequence('Long', TPF24, 3, 2);
  const clip = fake.addClip('/media/a.mov');
  let picked;
  for (let i = 0; i < 200; i++) {
    const item = fake.addTrackItem(seq, { track: i % 3, item: clip, startFrame: (i % 100) * 50 + (i % 3) * 5000, inFrame: i, frames: 10, audioTrack: i % 2 });
    if (i === 101) picked = item;
  }
  fake.selectLinked(seq, picked!);
  const result = await readSelectedClip(fake.ppro as unknown as Ppro);
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.clip.trackIndex, 101 % 3);
  assert.equal(fake.callCount('TrackItem.getIsSelected'), 0);
  // One video and one linked audio item selected: their two types and one reference clip per kind.
  assert.equal(fake.callCount('TrackItem.getMediaType'), 4);
});

test('if video and audio clips reported the same media type, every clip is asked instead', async () => {
  const { fake, seq, item, ppro } = world();
  fake.host.mediaTypeGuids = { video: 'same', audio: 'same' };
  fake.selectLinked(seq, item);
  const result = await readSelectedClip(ppro);
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.clip.trackIndex, 1);
  assert.ok(fake.callCount('TrackItem.getIsSelected') > 0);
  fake.select(seq, ...seq.audioTracks[0]!.items);
  assert.equal(await refusal(ppro), 'audio_only');
});

test('audio items alone (no video track at their index holds a clip) are refused as audio only', async () => {
  const fake = createFakePremiere();
  fake.addMedia({ path: '/media/voice.wav', kind: 'audio' });
  fake.addMedia({ path: '/media/v.mov', fps: 24, frames: 100, hasAudio: true });
  const seq = fake.addSequence('Audio', TPF24, 2, 2);
  const video = fake.addTrackItem(seq, { track: 0, item: fake.addClip('/media/v.mov'), startFrame: 0, frames: 10, audioTrack: 1 });
  const audio = seq.audioTracks[1]!.items[0]!;
  fake.select(seq, audio);
  assert.equal(await refusal(fake.ppro as unknown as Ppro), 'audio_only');
  fake.select(seq, video, audio);
  assert.ok((await readSelectedClip(fake.ppro as unknown as Ppro)).ok);
});
