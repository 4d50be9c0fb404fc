// What the panel knows about the clip it will edit, and the plain reasons it cannot edit one.

/** Enough to send the clip to the daemon and to find it again in the sequence later. */
export interface ClipRef {
  sequenceGuid: string;
  sequenceName: string;
  /** 0-based video track index (V1 = 0). */
  trackIndex: number;
  /** Sequence time of the clip, ticks as decimal strings. */
  startTicks: string;
  endTicks: string;
  /** The media file and the part of it the clip uses (file-relative ticks). */
  mediaPath: string;
  inTicks: string;
  outTicks: string;
  name: string;
}

/** A clip the panel can edit, with what the clip card shows. */
export interface SelectedClip extends ClipRef {
  /** Sequence ticks per frame (exact). */
  sequenceTicksPerFrame: string;
  sequenceFps: number;
  /** Media frame rate as interpreted by Premiere. */
  mediaFps: number;
  /** Source frames the edit covers (at the media rate). */
  frameCount: number;
  durationSeconds: number;
}

export type RefusalCode =
  | 'no_project'
  | 'no_sequence'
  | 'nothing_selected'
  | 'audio_only'
  | 'several_clips'
  | 'nested_sequence'
  | 'multicam'
  | 'merged_clip'
  | 'adjustment_layer'
  | 'no_media'
  | 'still_image'
  | 'offline'
  | 'speed_changed'
  | 'reversed'
  | 'time_remapped';

export interface ClipRefusal {
  code: RefusalCode;
  /** One or two plain sentences: what is wrong and what to do. */
  message: string;
}

export type SelectionResult = { ok: true; clip: SelectedClip } | { ok: false; refusal: ClipRefusal };

/** The message for each refusal; `detail` fills the count or speed where one is shown. */
export function refusalMessage(code: RefusalCode, detail?: string | number): string {
  switch (code) {
    case 'no_project':
      return 'Open a project in Premiere Pro.';
    case 'no_sequence':
      return 'Open a sequence and select the clip to edit in the timeline.';
    case 'nothing_selected':
      return 'Select a video clip in the timeline.';
    case 'audio_only':
      return 'That is an audio clip. Select a video clip to edit.';
    case 'several_clips':
      return `${detail ?? 'Several'} video clips are selected. Select just one.`;
    case 'nested_sequence':
      return 'That clip is a nested sequence. Open it and select a clip inside, or render it to a file first.';
    case 'multicam':
      return 'Multi-camera clips cannot be edited. Flatten it (Multi-Camera › Flatten) or select a single-camera clip.';
    case 'merged_clip':
      return 'Merged clips cannot be edited. Select a clip from a video file.';
    case 'adjustment_layer':
      return 'An adjustment layer has no picture to edit. Select a video clip.';
    case 'no_media':
      return 'This clip has no media file (a title, graphic or generated clip). Select a clip from a video file.';
    case 'still_image':
      return 'That is a still image. TokenFlow edits video clips.';
    case 'offline':
      return 'The clip’s media is offline. Relink it, then select it again.';
    case 'speed_changed':
      return `The clip plays at ${detail ?? 'a changed'}% speed. TokenFlow renders at 100%: set the speed to 100% (Clip › Speed/Duration), edit it, then change the speed of the result.`;
    case 'reversed':
      return 'The clip plays in reverse. Turn off Reverse Speed, edit it, then reverse the result.';
    case 'time_remapped':
      return 'The clip’s length in the sequence does not match its source range (time remapping?). Remove the time remapping, or render the clip to a file first.';
  }
}

export function refuse(code: RefusalCode, detail?: string | number): SelectionResult {
  return { ok: false, refusal: { code, message: refusalMessage(code, detail) } };
}

/** File extensions Premiere imports as still images (an image sequence is refused too). */
export const STILL_IMAGE_EXTENSIONS = new Set([
  'ai', 'bmp', 'dib', 'dpx', 'eps', 'exr', 'gif', 'heic', 'heif', 'ico', 'jpe', 'jpeg', 'jpg',
  'png', 'psd', 'svg', 'tga', 'tif', 'tiff', 'webp',
]);

export function extensionOf(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** Compares media paths as Premiere may spell them (either slash, either case). */
export function samePath(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/\\/g, '/').replace(/\/+$/, '').toLowerCase();
  return norm(a) === norm(b);
}
