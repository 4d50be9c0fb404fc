// Keyframe previews (previews.ts) on the bundled tiny model: the cadence, the keyframes picked,
// and each preview is the step's x0 decoded, downscaled and PNG-encoded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readModelInfo, VaeDecoder } from '../../companion/pipeline/components.ts';
import type { PipelinePreview } from '../../companion/pipeline/interface.ts';
import { downscaleRgb, imageToUnit, unitToRgb } from '../../companion/pipeline/pixels.ts';
import { PreviewMaker, type PreviewOptions } from '../../companion/pipeline/previews.ts';
import { encodePngRgb } from '../../companion/util/png.ts';

const MODEL = fileURLToPath(new URL('../fixtures/tiny-sd15', import.meta.url));

function options(extra: Partial<PreviewOptions> = {}): PreviewOptions {
  const model = readModelInfo(MODEL);
  const latent = { c: model.latentChannels, h: 8, w: 6 };
  return {
    model, frames: { width: latent.w * model.vaeFactor, height: latent.h * model.vaeFactor }, runtime: { providers: ['cpu'] },
    steps: 10, latent, onPreview: () => {}, ...extra,
  };
}

test('previews are due every few steps and at the last step; never without a receiver', () => {
  const dueSteps = (maker: PreviewMaker, steps = 10) => Array.from({ length: steps }, (_, s) => s).filter((s) => maker.due(s));
  assert.deepEqual(dueSteps(new PreviewMaker(options({ every: 3 }))), [2, 5, 8, 9]);
  assert.deepEqual(dueSteps(new PreviewMaker(options())), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'about 8 per edit: every round(10 / 8) = 1 steps');
  assert.deepEqual(dueSteps(new PreviewMaker(options({ steps: 50 })), 50), [5, 11, 17, 23, 29, 35, 41, 47, 49], 'every round(50 / 8) = 6 steps, and the last');
  assert.deepEqual(dueSteps(new PreviewMaker(options({ onPreview: undefined }))), []);
});

test('a preview is the x0 of its keyframe row through the VAE decoder, downscaled, as PNG; at most 4 evenly spaced', async (t) => {
  const previews: PipelinePreview[] = [];
  const o = options({ side: 16, onPreview: (p) => previews.push(p) });
  const maker = new PreviewMaker(o);
  t.after(() => maker.release());
  const { c, h, w } = o.latent;
  const per = c * h * w;
  const x0 = Float32Array.from({ length: 6 * per }, (_, i) => 0.5 * Math.sin(i * 0.13));
  await maker.emit(x0, 4, [5, 4, 3, 2, 1, 0], [10, 11, 12, 13, 14, 15]);
  // evenly spaced picks of 6: positions 0, 2, 3, 5.
  assert.deepEqual(previews.map((p) => p.index), [10, 12, 13, 15]);
  const decoder = await VaeDecoder.load(MODEL, o.runtime);
  t.after(() => decoder.release());
  const { width, height } = o.frames;
  for (const [i, row] of [5, 3, 2, 0].entries()) {
    const latents = x0.slice(row * per, (row + 1) * per).map((v) => v / Math.fround(o.model.scalingFactor));
    const { data } = await decoder.decode(latents, 1, c, h, w);
    const small = downscaleRgb(unitToRgb(imageToUnit(data), 1, height, width), width, height, 16);
    assert.equal(previews[i]!.mime, 'image/png');
    assert.deepEqual([previews[i]!.width, previews[i]!.height], [small.width, small.height]);
    assert.deepEqual(previews[i]!.data, encodePngRgb(small.rgb, small.width, small.height), `preview ${i} (row ${row})`);
  }
});
