// companion/media: our small typed wrapper over ffmpeg/ffprobe. Import from here.
export type * from './types.ts';
export { MediaError, isMediaError } from './errors.ts';
export { resolveBinaries } from './binaries.ts';
export { checkMedia, describeCapabilities } from './capabilities.ts';
export { probe, describeMedia } from './probe.ts';
export { isSameFile } from './source-file.ts';
export { extractFrames, readFrame } from './extract.ts';
export { encodeVideo, outputSize } from './encode.ts';
export { FrameWriter } from './frame-writer.ts';
export { selectRange, parseRange, type RangeSelection } from './range.ts';
export { processingSize, displayAspect, DEFAULT_SHORT_SIDE } from './size.ts';
