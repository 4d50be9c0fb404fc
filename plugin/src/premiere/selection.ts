// Reads the timeline selection: the one selected video clip the panel will edit, or the plain
// reason it cannot. Only documented async getters; nothing is changed.
// Only the selected items are asked about (never every clip of the sequence).
import { ticksToSeconds } from '../../../shared/ticks.ts';
import { extensionOf, refuse, STILL_IMAGE_EXTENSIONS, type SelectionResult } from './clip.ts';
import type { AudioClipTrackItem, Ppro, Sequence, VideoClipTrackItem } from './ppro.ts';
import { frameTicks, framesIn, rateFromFps, rateFromTimebase, rateToFps } from './time.ts';

interface PickedItem {
  item: VideoClipTrackItem;
  track: number;
}

type SelectedItem = VideoClipTrackItem | AudioClipTrackItem;

/** The media-type Guid of the first clip on one of these tracks of a kind, if any has one. */
async function firstClipType(ppro: Ppro, sequence: Sequence, kind: 'video' | 'audio', trackIndexes: Iterable<number>): Promise<string | undefined> {
  const count = await (kind === 'video' ? sequence.getVideoTrackCount() : sequence.getAudioTrackCount());
  for (const t of trackIndexes) {
    if (t < 0 || t >= count) continue;
    const track = await (kind === 'video' ? sequence.getVideoTrack(t) : sequence.getAudioTrack(t));
    const [first] = track.getTrackItems(ppro.Constants.TrackItemType.CLIP, false);
    if (first) return (await first.getMediaType()).toString();
  }
  return undefined;
}

/**
 * The selected clips per kind, from the selection's own items: host calls grow with the
 * number of selected items, not with the clips in the sequence. The selection mixes video
 * and audio items, and their media-type Guid has no documented constant, so a clip known to
 * be video (it is on a video track) names the video type: the video tracks at the selected
 * items' indexes hold a video clip whenever any selected item is video. Should a clip on an
 * audio track report the same Guid, the Guid tells nothing and every clip is asked instead.
 */
async function selectedClips(ppro: Ppro, sequence: Sequence, items: SelectedItem[]): Promise<{ video: PickedItem[]; audio: number }> {
  const facts = await Promise.all(items.map(async (item) => {
    const [type, track] = await Promise.all([item.getMediaType(), item.getTrackIndex()]);
    return { item, type: type.toString(), track };
  }));
  const tracks = new Set(facts.map((f) => f.track));
  const [videoType, audioType] = await Promise.all([firstClipType(ppro, sequence, 'video', tracks), firstClipType(ppro, sequence, 'audio', tracks)]);
  if (videoType !== undefined && videoType === audioType) return scanSelectedClips(ppro, sequence);
  const video = facts.filter((f) => f.type === videoType).map((f) => ({ item: f.item as VideoClipTrackItem, track: f.track }));
  return { video, audio: facts.length - video.length };
}

/** Every clip of the sequence asked whether it is selected: one round trip per clip. */
async function scanSelectedClips(ppro: Ppro, sequence: Sequence): Promise<{ video: PickedItem[]; audio: number }> {
  const CLIP = ppro.Constants.TrackItemType.CLIP;
  const video: PickedItem[] = [];
  const videoTracks = await sequence.getVideoTrackCount();
  for (let t = 0; t < videoTracks; t++) {
    for (const item of (await sequence.getVideoTrack(t)).getTrackItems(CLIP, false)) {
      if (await item.getIsSelected()) video.push({ item, track: t });
    }
  }
  let audio = 0;
  const audioTracks = await sequence.getAudioTrackCount();
  for (let t = 0; t < audioTracks; t++) {
    for (const item of (await sequence.getAudioTrack(t)).getTrackItems(CLIP, false)) {
      if (await item.getIsSelected()) audio++;
    }
  }
  return { video, audio };
}

export async function readSelectedClip(ppro: Ppro): Promise<SelectionResult> {
  const project = await ppro.Project.getActiveProject();
  if (!project) return refuse('no_project');
  const sequence = await project.getActiveSequence();
  if (!sequence) return refuse('no_sequence');
  const selected = await (await sequence.getSelection()).getTrackItems();
  if (selected.length === 0) return refuse('nothing_selected');

  const { video, audio } = await selectedClips(ppro, sequence, selected);
  if (video.length === 0) return refuse(audio > 0 ? 'audio_only' : 'nothing_selected');
  if (video.length > 1) return refuse('several_clips', video.length);
  const { item, track } = video[0];

  const projectItem = await item.getProjectItem();
  const clip = projectItem ? ppro.ClipProjectItem.cast(projectItem) : undefined;
  if (await item.isAdjustmentLayer()) return refuse('adjustment_layer');
  if (!clip) return refuse('no_media');
  if ((await clip.isSequence()) || (await clip.getContentType()) === ppro.Constants.ContentType.SEQUENCE) {
    return refuse('nested_sequence');
  }
  if (await clip.isMulticamClip()) return refuse('multicam');
  if (await clip.isMergedClip()) return refuse('merged_clip');
  const mediaPath = await clip.getMediaFilePath();
  if (!mediaPath) return refuse('no_media');
  const mediaFps = (await clip.getFootageInterpretation()).getFrameRate();
  if (STILL_IMAGE_EXTENSIONS.has(extensionOf(mediaPath)) || !(mediaFps > 0)) return refuse('still_image');
  if (await clip.isOffline()) return refuse('offline');

  // No speed setter and no time-remap getter exist in UXP: anything but plain 100% forward
  // playback is refused rather than rendered at the wrong speed.
  const speed = await item.getSpeed();
  if (Math.abs(speed - 1) > 1e-6) return refuse('speed_changed', Math.round(speed * 1000) / 10);
  if (await item.isSpeedReversed()) return refuse('reversed');

  const [inPoint, outPoint, start, end] = await Promise.all([
    item.getInPoint(),
    item.getOutPoint(),
    item.getStartTime(),
    item.getEndTime(),
  ]);
  const sequenceTpf = BigInt(await sequence.getTimebase());
  const sequenceRate = rateFromTimebase(sequenceTpf);
  const mediaRate = rateFromFps(mediaFps);
  const inTicks = BigInt(inPoint.ticks);
  const outTicks = BigInt(outPoint.ticks);
  const startTicks = BigInt(start.ticks);
  const endTicks = BigInt(end.ticks);
  const sourceSpan = outTicks - inTicks;
  const timelineSpan = endTicks - startTicks;
  // At 100% the two spans agree to within a frame of each grid (media and sequence rates may
  // differ); more means timing the API does not show, such as time remapping.
  const slack = frameTicks(mediaRate) + sequenceTpf;
  const diff = sourceSpan > timelineSpan ? sourceSpan - timelineSpan : timelineSpan - sourceSpan;
  if (sourceSpan <= 0n || diff > slack) return refuse('time_remapped');

  return {
    ok: true,
    clip: {
      sequenceGuid: sequence.guid.toString(),
      sequenceName: sequence.name,
      trackIndex: track,
      startTicks: start.ticks,
      endTicks: end.ticks,
      mediaPath,
      inTicks: inPoint.ticks,
      outTicks: outPoint.ticks,
      name: await item.getName(),
      sequenceTicksPerFrame: sequenceTpf.toString(),
      sequenceFps: rateToFps(sequenceRate),
      mediaFps,
      frameCount: framesIn(sourceSpan, mediaRate),
      durationSeconds: ticksToSeconds(sourceSpan),
    },
  };
}
