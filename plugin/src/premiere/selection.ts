// Reads the timeline selection: the one selected video clip the panel will edit, or the plain
// reason it cannot. Only documented async getters (premiere-uxp.md §2); nothing is changed.
import { ticksToSeconds } from '../../../shared/ticks.ts';
import { extensionOf, refuse, STILL_IMAGE_EXTENSIONS, type SelectionResult } from './clip.ts';
import type { Ppro, Sequence, VideoClipTrackItem } from './ppro.ts';
import { frameTicks, framesIn, rateFromFps, rateFromTimebase, rateToFps } from './time.ts';

interface PickedItem {
  item: VideoClipTrackItem;
  track: number;
}

/**
 * Selected clips per kind. The selection object mixes video and audio items with no
 * documented type test, so each track's clips are asked whether they are selected.
 */
async function selectedClips(ppro: Ppro, sequence: Sequence): Promise<{ video: PickedItem[]; audio: number }> {
  const CLIP = ppro.Constants.TrackItemType.CLIP;
  const video: PickedItem[] = [];
  const videoTracks = await sequence.getVideoTrackCount();
  for (let t = 0; t < videoTracks; t++) {
    const track = await sequence.getVideoTrack(t);
    for (const item of track.getTrackItems(CLIP, false)) {
      if (await item.getIsSelected()) video.push({ item, track: t });
    }
  }
  let audio = 0;
  const audioTracks = await sequence.getAudioTrackCount();
  for (let t = 0; t < audioTracks; t++) {
    const track = await sequence.getAudioTrack(t);
    for (const item of track.getTrackItems(CLIP, false)) {
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
  const selection = await sequence.getSelection();
  if ((await selection.getTrackItems()).length === 0) return refuse('nothing_selected');

  const { video, audio } = await selectedClips(ppro, sequence);
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
