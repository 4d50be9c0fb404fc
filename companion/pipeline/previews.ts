// Keyframe previews while editing: every few steps the keyframes' denoised estimate x0 (the
// DDIM step's pred_original_sample, as the editor returns it) is decoded, downscaled and sent
// as PNG. The VAE decoder is loaded for the first preview and kept for the final decode.
import type { RawFrames } from '../media/types.ts';
import { encodePngRgb } from '../util/png.ts';
import { VaeDecoder, type ModelInfo, type RuntimeOptions } from './components.ts';
import type { PipelinePreview } from './interface.ts';
import { unscaleLatents } from './latent_math.ts';
import { downscaleRgb, imageToUnit, unitToRgb } from './pixels.ts';
import { checkAborted } from './preprocess.ts';

/** Keyframes decoded per preview round. */
const MAX_PREVIEW_FRAMES = 4;

export interface PreviewOptions {
  model: ModelInfo;
  frames: Pick<RawFrames, 'width' | 'height'>;
  runtime: RuntimeOptions;
  /** Edit steps. */
  steps: number;
  /** Previews every this many steps (default: about 8 per edit); 0 = none. */
  every?: number;
  /** Long side of preview images (default 320). */
  side?: number;
  /** Latents of one frame: [channels, h, w]. */
  latent: { c: number; h: number; w: number };
  signal?: AbortSignal;
  /** No previews without it. */
  onPreview?: (preview: PipelinePreview) => void;
  onLog?: (level: 'debug', message: string) => void;
}

/** `count` indices of 0..n-1, evenly spaced, first and last included (all when n <= count). */
function evenlySpaced(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.round((i * (n - 1)) / (count - 1)));
}

export class PreviewMaker {
  private loaded: VaeDecoder | undefined;
  private readonly every: number;

  constructor(private readonly options: PreviewOptions) {
    this.every = options.onPreview ? (options.every ?? Math.max(1, Math.round(options.steps / 8))) : 0;
  }

  due(stepIndex: number): boolean {
    if (!this.every) return false;
    return (stepIndex + 1) % this.every === 0 || stepIndex === this.options.steps - 1;
  }

  async decoder(): Promise<VaeDecoder> {
    this.loaded ??= await VaeDecoder.load(this.options.model.dir, this.options.runtime);
    return this.loaded;
  }

  /**
   * Decodes x0 of latents `rows` (indices into x0) and reports them as frames `frameIndices`:
   * at most MAX_PREVIEW_FRAMES of them, evenly spaced (the daemon forwards about 2 previews a
   * second per job, so decoding more would be wasted work).
   */
  async emit(x0: Float32Array, stepIndex: number, allRows: readonly number[], allIndices: readonly number[]): Promise<void> {
    const picks = evenlySpaced(allRows.length, MAX_PREVIEW_FRAMES);
    const rows = picks.map((i) => allRows[i]!);
    const frameIndices = picks.map((i) => allIndices[i]!);
    const { c, h, w } = this.options.latent;
    const per = c * h * w;
    const decoder = await this.decoder();
    const { width, height } = this.options.frames;
    for (const [i, row] of rows.entries()) {
      checkAborted(this.options.signal);
      const latents = unscaleLatents(x0.slice(row * per, (row + 1) * per), this.options.model.scalingFactor);
      const { data } = await decoder.decode(latents, 1, c, h, w);
      const rgb = unitToRgb(imageToUnit(data), 1, height, width);
      const small = downscaleRgb(rgb, width, height, this.options.side ?? 320);
      this.options.onPreview!({ index: frameIndices[i]!, mime: 'image/png', data: encodePngRgb(small.rgb, small.width, small.height), width: small.width, height: small.height });
    }
    this.options.onLog?.('debug', `preview: ${rows.length} keyframe(s) at step ${stepIndex + 1}/${this.options.steps}`);
  }

  async release(): Promise<void> {
    await this.loaded?.release();
    this.loaded = undefined;
  }
}
