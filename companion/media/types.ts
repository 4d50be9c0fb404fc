// Public types of companion/media, the typed ffmpeg/ffprobe wrapper. The job runner and the
// pipeline build on these names; change them only together with their users.

/** An exact rational number (frame rates, time bases, aspect ratios). `den` is > 0. */
export interface Rational {
  num: number;
  den: number;
}

/** What went wrong, machine-readable; `MediaError.message` says it for humans. */
export type MediaErrorCode =
  | 'not_found' // the path does not exist
  | 'not_a_file' // the path is a directory, device, socket...
  | 'permission' // the file exists but cannot be read
  | 'not_video' // readable, but not a video (text, audio-only, still image)
  | 'corrupt' // looks like media but cannot be decoded (truncated, damaged, empty)
  | 'range' // the requested range is empty, reversed or outside the media
  | 'invalid_argument' // a bad option (short side, output path, frame size...)
  | 'encoder' // ffmpeg is missing an encoder, or encoding failed
  | 'disk_full' // no space left on the device being written
  | 'binary' // ffmpeg/ffprobe cannot be found or run
  | 'aborted' // the caller's AbortSignal fired (error.name is 'AbortError')
  | 'ffmpeg'; // any other ffmpeg/ffprobe failure (message has its stderr tail)

/** Colour description from the stream header; null when the file does not say. */
export interface ColorInfo {
  /** e.g. 'bt709', 'bt470bg', 'bt2020' */
  primaries: string | null;
  /** e.g. 'bt709', 'smpte2084', 'arib-std-b67' */
  transfer: string | null;
  /** YUV matrix, e.g. 'bt709', 'smpte170m', 'bt2020nc' */
  matrix: string | null;
  /** 'tv' = limited (16-235), 'pc' = full */
  range: 'tv' | 'pc' | null;
}

export interface VideoStreamInfo {
  /** Stream index inside the file. */
  index: number;
  codec: string;
  profile: string | null;
  /** Stored (coded) size, before rotation. */
  width: number;
  height: number;
  /** Size as shown to the viewer: rotation applied (90/270 swap the sides). */
  displayWidth: number;
  displayHeight: number;
  /** Sample (pixel) aspect ratio; 1/1 for square pixels. */
  sampleAspectRatio: Rational;
  /** Clockwise degrees a player turns the stored picture to show it upright. */
  rotation: 0 | 90 | 180 | 270;
  pixelFormat: string;
  color: ColorInfo;
  /** ffprobe r_frame_rate: the base rate all timestamps fit on. */
  rFrameRate: Rational;
  /** ffprobe avg_frame_rate: frames / duration. */
  avgFrameRate: Rational;
  /**
   * The rate to render at: rFrameRate for constant-rate video (avgFrameRate if only that one
   * matches the frame gaps); for variable-rate video the measured average, frameCount / duration.
   */
  frameRate: Rational;
  /** True when the gaps between frame timestamps are not all equal. */
  variableFrameRate: boolean;
  timeBase: Rational;
  /** Number of frames (from decodable packets; see frameCountSource). */
  frameCount: number;
  frameCountSource: 'packets' | 'header';
  /** pts (in timeBase) of the first frame: media time zero, as Premiere counts it. */
  firstPts: number;
  /**
   * 'pts': frames are picked by their presentation timestamps. 'dts': the container stores no
   * presentation times (AVI), the decode timestamps are frame slots, and extraction picks frames
   * by their position in the decoded sequence (decoding from the start).
   */
  timestampSource: 'pts' | 'dts';
  /** Duration of the video stream, in Premiere ticks (decimal string). */
  durationTicks: string;
  durationSeconds: number;
  /** Start timecode tag (e.g. '01:00:00:00'), if any. */
  timecode: string | null;
}

export interface AudioStreamInfo {
  index: number;
  codec: string;
  channels: number;
  channelLayout: string | null;
  sampleRate: number;
  sampleFormat: string | null;
  durationSeconds: number | null;
}

export interface MediaInfo {
  /** Absolute path of the probed file. */
  path: string;
  sizeBytes: number;
  /** ffprobe format_name, e.g. 'mov,mp4,m4a,3gp,3g2,mj2'. */
  container: string;
  durationSeconds: number;
  video: VideoStreamInfo;
  audio: AudioStreamInfo[];
}

/** Frame progress of one ffmpeg run. */
export interface MediaProgress {
  /** Frames written so far. */
  done: number;
  /** Frames expected in total. */
  total: number;
}

export interface ProbeOptions {
  signal?: AbortSignal;
}

/**
 * Frames on disk as raw rgb24, back to back (row-major, 3 bytes per pixel, no padding):
 * frame i occupies bytes [i * width * height * 3, (i + 1) * width * height * 3).
 */
export interface RawFrames {
  path: string;
  width: number;
  height: number;
  count: number;
}

/** The frames of one range, extracted at processing size (see extractFrames). */
export interface FrameSet extends RawFrames {
  /** Source file the frames came from. */
  source: string;
  /** Requested range, Premiere ticks (decimal strings). */
  startTicks: string;
  endTicks: string;
  /** Index (in presentation order) of the first extracted frame in the source. */
  firstFrameIndex: number;
  /** Source frame rate (MediaInfo.video.frameRate). */
  frameRate: Rational;
  timeBase: Rational;
  /** Source pts of every extracted frame, in timeBase. */
  pts: number[];
  /** Media time of every frame in ticks from media time zero (decimal strings, rounded to the nearest tick). */
  ptsTicks: string[];
}

/** A range in Premiere ticks; bigint or a decimal string such as '254016000000'. */
export type Ticks = bigint | string;

export interface ExtractOptions {
  input: string;
  startTicks: Ticks;
  endTicks: Ticks;
  /** Short side of the processing size (positive multiple of 8); default 512. */
  shortSide?: number;
  /** Existing directory the frame file is written into (the caller owns and cleans it). */
  workDir: string;
  /** A probe result for `input`, to skip probing again. */
  info?: MediaInfo;
  signal?: AbortSignal;
  onProgress?: (p: MediaProgress) => void;
}

export type OutputCodec = 'prores' | 'h264';

export interface EncodeOptions {
  /** Frames at processing size (a FrameSet or anything RawFrames-shaped on disk). */
  frames: RawFrames;
  /** Probe of the source clip: output size, frame rate and audio come from it. */
  source: MediaInfo;
  /** The range the frames stand for (used to cut the audio and to check the frame count). */
  startTicks: Ticks;
  endTicks: Ticks;
  /** Output file: .mov for prores; .mov or .mp4 for h264. Must not be beside the source media. */
  output: string;
  codec: OutputCodec;
  /** Mux the source audio of the exact range. */
  withAudio: boolean;
  /** Override the output frame rate (default: source.video.frameRate). */
  frameRate?: Rational;
  signal?: AbortSignal;
  onProgress?: (p: MediaProgress) => void;
}

export interface EncodeResult {
  output: string;
  codec: OutputCodec;
  width: number;
  height: number;
  frameCount: number;
  frameRate: Rational;
  hasAudio: boolean;
  bytes: number;
}

/** Paths of the binaries in use and where they came from. */
export interface MediaBinaries {
  ffmpeg: string;
  ffprobe: string;
  ffmpegSource: 'env' | 'bundled';
  ffprobeSource: 'env' | 'bundled';
}

/** What the ffmpeg in use can do; see checkMedia(). */
export interface MediaCapabilities extends MediaBinaries {
  ffmpegVersion: string;
  ffprobeVersion: string;
  /** Encoders we use, present or not. */
  encoders: Record<'prores_ks' | 'libx264' | 'aac' | 'pcm_s16le' | 'pcm_s24le', boolean>;
  /** Output codecs that can be offered with this ffmpeg. */
  codecs: OutputCodec[];
  /** ffmpeg >= 5.1 spells -vsync as -fps_mode. */
  fpsModeOption: '-fps_mode' | '-vsync';
  /** Human-readable problems (missing encoders), empty when everything is there. */
  warnings: string[];
}
