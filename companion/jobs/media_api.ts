// The part of companion/media the job runner uses, as an interface so the service can be
// given another implementation (tests wrap the real one to simulate a full disk).
import type { EncodeOptions, EncodeResult, ExtractOptions, FrameSet, MediaInfo, ProbeOptions, RawFrames } from '../media/types.ts';

export interface MediaApi {
  probe(path: string, options?: ProbeOptions): Promise<MediaInfo>;
  extractFrames(options: ExtractOptions): Promise<FrameSet>;
  encodeVideo(options: EncodeOptions): Promise<EncodeResult>;
  /** Frame `index` of raw rgb24 frames on disk. */
  readFrame(frames: RawFrames, index: number): Promise<Uint8Array>;
}

/** The real media module, loaded on first use. */
export async function loadMedia(): Promise<MediaApi> {
  const media = await import('../media/index.ts');
  return { probe: media.probe, extractFrames: media.extractFrames, encodeVideo: media.encodeVideo, readFrame: media.readFrame };
}
