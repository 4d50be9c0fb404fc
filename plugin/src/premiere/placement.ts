// Putting a render into the sequence: on the video track above the source clip at the same
// time (default, non-destructive) or over the clip itself. One transaction inside one locked
// access, so one Edit › Undo removes the whole placement.
import { samePath, type ClipRef } from './clip.ts';
import type { ClipProjectItem, Ppro, Project, Sequence, VideoClipTrackItem, VideoTrack } from './ppro.ts';

export type PlacementMode = 'above' | 'replace';

export interface PlacementResult {
  mode: PlacementMode;
  /** 0-based video track the render landed on. */
  trackIndex: number;
  /** True when a new video track was added on top for it. */
  newTrack: boolean;
  /** Set when the render's length differs from the clip's (placed anyway in 'above' mode). */
  warning?: string;
}

export type PlacementErrorCode = 'sequence_gone' | 'source_moved' | 'length_mismatch' | 'transaction_failed' | 'not_placed';

export class PlacementError extends Error {
  readonly code: PlacementErrorCode;
  constructor(code: PlacementErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'PlacementError';
  }
}

export const UNDO_LABELS: Record<PlacementMode, string> = {
  above: 'TokenFlow: place render above clip',
  replace: 'TokenFlow: replace clip with render',
};

async function findSequence(project: Project, guid: string): Promise<Sequence | undefined> {
  for (const sequence of await project.getSequences()) {
    if (sequence.guid.toString() === guid) return sequence;
  }
  return undefined;
}

function clipItems(ppro: Ppro, track: VideoTrack): VideoClipTrackItem[] {
  return track.getTrackItems(ppro.Constants.TrackItemType.CLIP, false);
}

/** The source clip, still where it was when the job was sent (same track, start and media). */
async function findOriginal(ppro: Ppro, sequence: Sequence, ref: ClipRef): Promise<VideoClipTrackItem | undefined> {
  if (ref.trackIndex >= (await sequence.getVideoTrackCount())) return undefined;
  for (const item of clipItems(ppro, await sequence.getVideoTrack(ref.trackIndex))) {
    if ((await item.getStartTime()).ticks !== ref.startTicks) continue;
    const clip = ppro.ClipProjectItem.cast(await item.getProjectItem());
    if (clip && samePath(await clip.getMediaFilePath(), ref.mediaPath)) return item;
  }
  return undefined;
}

async function isFree(ppro: Ppro, track: VideoTrack, start: bigint, end: bigint): Promise<boolean> {
  for (const item of clipItems(ppro, track)) {
    const itemStart = BigInt((await item.getStartTime()).ticks);
    const itemEnd = BigInt((await item.getEndTime()).ticks);
    if (itemStart < end && itemEnd > start) return false;
  }
  return true;
}

/** First video track above `from` with nothing over [start, end); `count` means a new track. */
export async function firstFreeTrackAbove(ppro: Ppro, sequence: Sequence, from: number, start: bigint, end: bigint): Promise<number> {
  const count = await sequence.getVideoTrackCount();
  for (let t = from + 1; t < count; t++) {
    if (await isFree(ppro, await sequence.getVideoTrack(t), start, end)) return t;
  }
  return count;
}

export interface PlaceOptions {
  /** The render's length; checked against the clip's (a replace must cover it exactly). */
  renderTicks?: bigint;
}

export async function placeRender(
  ppro: Ppro,
  project: Project,
  render: ClipProjectItem,
  ref: ClipRef,
  mode: PlacementMode,
  options: PlaceOptions = {},
): Promise<PlacementResult> {
  const sequence = await findSequence(project, ref.sequenceGuid);
  if (!sequence) {
    throw new PlacementError('sequence_gone', `the sequence "${ref.sequenceName}" is no longer in the project; the render is in the bin`);
  }
  const original = await findOriginal(ppro, sequence, ref);
  if (!original) {
    throw new PlacementError('source_moved', `the clip "${ref.name}" moved or was removed since the edit was sent; the render is in the bin`);
  }
  const startTicks = BigInt(ref.startTicks);
  const endTicks = BigInt(ref.endTicks);
  const tpf = BigInt(await sequence.getTimebase());
  let warning: string | undefined;
  if (options.renderTicks !== undefined) {
    const diff = options.renderTicks - (endTicks - startTicks);
    if ((diff < 0n ? -diff : diff) * 2n > tpf) {
      const frames = (t: bigint) => Number((t * 10n) / tpf) / 10;
      const what = `the render is ${frames(options.renderTicks)} frames long but the clip is ${frames(endTicks - startTicks)}`;
      if (mode === 'replace') throw new PlacementError('length_mismatch', `${what}; not replacing (the render is in the bin)`);
      warning = what;
    }
  }

  const videoCount = await sequence.getVideoTrackCount();
  const audioCount = await sequence.getAudioTrackCount();
  const target = mode === 'replace' ? ref.trackIndex : await firstFreeTrackAbove(ppro, sequence, ref.trackIndex, startTicks, endTicks);
  const newTrack = target >= videoCount;
  const editor = ppro.SequenceEditor.getEditor(sequence);
  const item = ppro.ProjectItem.cast(render);
  const start = ppro.TickTime.createWithTicks(ref.startTicks);

  // Renders for the sequence are video-only, so the audio track index lays nothing. An index
  // past the last video track is documented to add a track only for insert, hence insert there.
  let committed = false;
  project.lockedAccess(() => {
    committed = project.executeTransaction((compound) => {
      compound.addAction(
        newTrack
          ? editor.createInsertProjectItemAction(item, start, videoCount, audioCount, true)
          : editor.createOverwriteItemAction(item, start, target, 0),
      );
    }, UNDO_LABELS[mode]);
  });
  if (!committed) throw new PlacementError('transaction_failed', 'Premiere refused the edit (is the target track locked?); the render is in the bin');

  const renderPath = await render.getMediaFilePath();
  const landed = (await sequence.getVideoTrackCount()) > target ? await sequence.getVideoTrack(target) : undefined;
  for (const placed of landed ? clipItems(ppro, landed) : []) {
    if ((await placed.getStartTime()).ticks !== ref.startTicks) continue;
    const clip = ppro.ClipProjectItem.cast(await placed.getProjectItem());
    if (clip && samePath(await clip.getMediaFilePath(), renderPath)) {
      return { mode, trackIndex: target, newTrack, ...(warning ? { warning } : {}) };
    }
  }
  throw new PlacementError('not_placed', `Premiere accepted the edit but the render is not on V${target + 1} at the clip's start (is the track locked?)`);
}
