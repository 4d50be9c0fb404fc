import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTextEncoderGraph } from '../../companion/models/clip_text.ts';
import { SafetensorsFile } from '../../companion/runtime/safetensors.ts';
import { createSession, run, ort } from '../../companion/runtime/session.ts';
import { assertClose } from '../helpers/tensors.ts';

const MODEL = 'test/fixtures/tiny-sd15';

test('CLIP text encoder matches transformers on every hidden state (tol 2e-5)', async () => {
  const { graph, config } = buildTextEncoderGraph(MODEL, { taps: true });
  assert.equal(config.hidden_act, 'quick_gelu');
  const loaded = await createSession(graph);
  const golden = SafetensorsFile.open(`${MODEL}/golden/text_encoder.safetensors`);
  const ids = BigInt64Array.from(golden.readInts('input_ids').map(BigInt));
  const out = await run(loaded, { input_ids: new ort.Tensor('int64', ids, [3, 77]) });
  for (const name of ['last_hidden_state', ...Array.from({ length: 6 }, (_, i) => `hidden_states.${i}`)]) {
    assertClose(out[name]!.data as Float32Array, golden.readFloat32(name), 2e-5, name);
  }
});
