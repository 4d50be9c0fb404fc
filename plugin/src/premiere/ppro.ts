// The Premiere Pro UXP module as the panel uses it. The runtime module is `require("premierepro")`,
// passed in by main.ts (tests pass a fake), so nothing here imports it at run time.
import type { premierepro } from '@adobe/premierepro';

export type Ppro = premierepro;
export type {
  AudioClipTrackItem,
  ClipProjectItem,
  FolderItem,
  Project,
  ProjectItem,
  Sequence,
  TickTime,
  VideoClipTrackItem,
  VideoTrack,
} from '@adobe/premierepro';
