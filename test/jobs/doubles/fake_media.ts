// Test double for companion/media (for the fast service tests; runner.test.ts uses real
// ffmpeg): probes any existing file as a 10 fps clip, writes synthetic raw frames, and
// "encodes" by writing a temp file beside the output and renaming it. Optional delays per
// frame make the stages long enough to cancel in (`encodeGate` holds the encode for as long as a
// test needs; `hold` makes a stage end only by an abort, as late as the test says); `failEncodeWith`
// simulates a full disk.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MediaError } from '../../../companion/media/errors.ts';
import { readFrame } from '../../../companion/media/extract.ts';
import type { MediaApi } from '../../../companion/jobs/media_api.ts';
import type { EncodeOptions, ExtractOptions, FrameSet, MediaInfo } from '../../../companion/media/types.ts';
import { TICKS_PER_SECOND } from '../../../shared/ticks.ts';
import { untilAborted } from './until_aborted.ts';

export interface FakeMediaOptions {
  frames?: number;
  width?: number;
  height?: number;
  /** Milliseconds per frame in extract and encode. */
  delayMs?: number;
  probeDelayMs?: number;
  failEncodeWith?: 'disk_full';
  /** Every encode waits for this before its first frame: a test acts while a job is in its encode. */
  encodeGate?: Promise<void>;
  /**
   * The stage never ends on its own: it waits for its abort and for `release` (an abort seen
   * late), then rejects as aborted. Only probes with a signal (the runner's) are held: the
   * submission's check has none.
   */
  hold?: { stage: 'probe' | 'extract' | 'encode'; release: Promise<void> };
}

export interface FakeMedia extends MediaApi {
  calls: { probe: number; extract: number; encode: number };
}

export function fakeMedia(options: FakeMediaOptions = {}): FakeMedia {
  const frames = options.frames ?? 6;
  const width = options.width ?? 16;
  const height = options.height ?? 8;
  const delay = options.delayMs ?? 0;
  const calls = { probe: 0, extract: 0, encode: 0 };
  const aborted = (what: string) => new MediaError('aborted', `${what} was aborted`);
  const held = async (stage: 'probe' | 'extract' | 'encode', what: string, signal: AbortSignal | undefined) => {
    if (options.hold?.stage !== stage || !signal) return;
    // A real stage's ffmpeg process keeps the event loop alive meanwhile (cancel's reply timer
    // does not).
    const alive = setInterval(() => {}, 1000);
    try {
      await Promise.all([untilAborted(signal), options.hold.release]);
    } finally {
      clearInterval(alive);
    }
    throw aborted(what);
  };

  return {
    calls,
    readFrame,
    async probe(file, opts = {}): Promise<MediaInfo> {
      calls.probe++;
      await held('probe', 'probing', opts.signal);
      if (options.probeDelayMs) await sleep(options.probeDelayMs);
      if (opts.signal?.aborted) throw aborted('probing');
      if (!fs.existsSync(file)) throw new MediaError('not_found', `"${file}" does not exist`, { path: file });
      const seconds = frames / 10;
      return {
        path: file,
        sizeBytes: fs.statSync(file).size,
        container: 'fake',
        durationSeconds: seconds,
        audio: [],
        video: {
          index: 0, codec: 'fake', profile: null, width, height, displayWidth: width, displayHeight: height,
          sampleAspectRatio: { num: 1, den: 1 }, rotation: 0, pixelFormat: 'rgb24', timestampSource: 'pts',
          color: { primaries: null, transfer: null, matrix: null, range: null },
          rFrameRate: { num: 10, den: 1 }, avgFrameRate: { num: 10, den: 1 }, frameRate: { num: 10, den: 1 },
          variableFrameRate: false, timeBase: { num: 1, den: 10 }, frameCount: frames, frameCountSource: 'header',
          firstPts: 0, durationTicks: String((TICKS_PER_SECOND * BigInt(frames)) / 10n), durationSeconds: seconds, timecode: null,
        },
      };
    },

    async extractFrames(opts: ExtractOptions): Promise<FrameSet> {
      calls.extract++;
      await held('extract', 'extracting frames', opts.signal);
      const file = path.join(opts.workDir, 'frames.rgb');
      const fd = fs.openSync(file, 'w');
      try {
        for (let i = 0; i < frames; i++) {
          if (delay) await sleep(delay);
          if (opts.signal?.aborted) throw aborted('extracting frames');
          const frame = Buffer.alloc(width * height * 3, (i * 40) & 255);
          fs.writeSync(fd, frame);
          opts.onProgress?.({ done: i + 1, total: frames });
        }
      } finally {
        fs.closeSync(fd);
      }
      return {
        path: file, width, height, count: frames, source: opts.input,
        startTicks: String(opts.startTicks), endTicks: String(opts.endTicks), firstFrameIndex: 0,
        frameRate: { num: 10, den: 1 }, timeBase: { num: 1, den: 10 },
        pts: Array.from({ length: frames }, (_, i) => i), ptsTicks: Array.from({ length: frames }, (_, i) => String((TICKS_PER_SECOND * BigInt(i)) / 10n)),
      };
    },

    async encodeVideo(opts: EncodeOptions) {
      calls.encode++;
      await options.encodeGate;
      await held('encode', 'encoding', opts.signal);
      const temp = path.join(path.dirname(opts.output), `.${path.basename(opts.output)}.partial`);
      const fd = fs.openSync(temp, 'w');
      try {
        for (let i = 0; i < opts.frames.count; i++) {
          if (delay) await sleep(delay);
          if (opts.signal?.aborted) throw aborted('encoding');
          if (options.failEncodeWith === 'disk_full' && i === Math.floor(opts.frames.count / 2)) {
            throw new MediaError('disk_full', `no space left on the device writing "${opts.output}"`, { path: opts.output });
          }
          fs.writeSync(fd, Buffer.alloc(64, i));
          opts.onProgress?.({ done: i + 1, total: opts.frames.count });
        }
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, opts.output);
      return {
        output: opts.output, codec: opts.codec, width, height, frameCount: opts.frames.count,
        frameRate: { num: 10, den: 1 }, hasAudio: false, bytes: fs.statSync(opts.output).size,
      };
    },
  };
}
