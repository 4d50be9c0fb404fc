// The edit's last stage: the final latents through the VAE decoder to rgb24 frames on disk,
// in VAE-sized batches.
import { FrameWriter } from '../media/frame-writer.ts';
import type { RawFrames } from '../media/types.ts';
import type { ModelInfo, VaeDecoder } from './components.ts';
import type { PipelineHooks } from './interface.ts';
import { unscaleLatents } from './latent_math.ts';
import { imageToUnit, unitToRgb } from './pixels.ts';
import { checkAborted, vaeChunk } from './preprocess.ts';

export interface DecodeOptions {
  /** rgb24 file the frames are written to. */
  outputPath: string;
  signal?: AbortSignal;
  onProgress?: PipelineHooks['onProgress'];
  /** Decoded frames [n, 3, H, W] in [0, 1] (before quantisation), starting at output frame `first`. */
  onDecoded?: (first: number, unit: Float32Array, n: number) => void;
}

/** Decodes x [n, c, h, w] to rgb24 frames of the input frames' size in `options.outputPath`. */
export async function decodeToFile(
  decoder: VaeDecoder, x: Float32Array, shape: { n: number; c: number; h: number; w: number }, model: ModelInfo, frames: RawFrames, options: DecodeOptions,
): Promise<RawFrames> {
  const per = shape.c * shape.h * shape.w;
  const chunk = vaeChunk(frames.width, frames.height);
  const writer = await FrameWriter.create(options.outputPath, frames.width, frames.height);
  try {
    options.onProgress?.({ stage: 'decode', done: 0, total: shape.n });
    for (let first = 0; first < shape.n; first += chunk) {
      checkAborted(options.signal);
      const count = Math.min(chunk, shape.n - first);
      const latents = unscaleLatents(x.slice(first * per, (first + count) * per), model.scalingFactor);
      const { data, dims } = await decoder.decode(latents, count, shape.c, shape.h, shape.w);
      if (dims[2] !== frames.height || dims[3] !== frames.width) {
        throw new Error(`VAE decoder returned ${dims[3]}x${dims[2]} frames for ${frames.width}x${frames.height} input`);
      }
      const unit = imageToUnit(data);
      options.onDecoded?.(first, unit, count);
      const rgb = unitToRgb(unit, count, frames.height, frames.width);
      const bytes = frames.width * frames.height * 3;
      for (let i = 0; i < count; i++) await writer.write(rgb.subarray(i * bytes, (i + 1) * bytes));
      options.onProgress?.({ stage: 'decode', done: first + count, total: shape.n });
    }
    return await writer.close();
  } catch (err) {
    await writer.discard();
    throw err;
  }
}
