// The TokenFlow UNet graph (both modes, If branches, extended attention, nearest-neighbour search
// and blend) on the WebGPU provider in its default float16 precision, against the golden run of
// tiny-sdlayout: step 0's debug tensors and one step from golden latents, as
// tokenflow_float16.test.ts does on the CPU. No skip: without a WebGPU adapter this fails.
// Measured (lavapipe, ORT 1.30): keyframe P_src 7.6e-2, A 1.2e-2, propagated attn 1.1e-2,
// query in the first block 2.7e-2, over all blocks p99 4.2e-2 and max 0.29; 424 of 20,208
// nearest-neighbour indices differ (2.1 %), each within a golden cosine gap of 2.0e-2; one
// step 9.1e-3 / 4.7e-4 at steps 0 / 49 -- about 6x the CPU's float16 figures
// (tokenflow_float16.test.ts), as WebGPU computes in float16. Bounds are about 2.5x these.
// Two steps only: on lavapipe an edit step takes about 35 CPU-seconds (a keyframe pass 15, each
// propagate pass 5; README, "Execution providers"). The full 50-step edit (`tokenflow debug
// tokenflow --provider webgpu`: 50 inversion calls, then 250 TokenFlow UNet calls) is too slow
// for the test suite on a software device.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenFlowEditor, type DebugTensor } from '../../companion/pipeline/edit_step.ts';
import { TokenFlowGolden } from '../helpers/tokenflow_golden.ts';
import { maxAbsDiff } from '../helpers/tensors.ts';
import { prepareWebGpu } from '../helpers/webgpu.ts';

prepareWebGpu();
const MODEL = fileURLToPath(new URL('../fixtures/tiny-sdlayout', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-webgpu-editor-'));
let editor: TokenFlowEditor;
let golden: TokenFlowGolden;
const lines: string[] = [];

before(async () => {
  golden = new TokenFlowGolden(MODEL);
  editor = await TokenFlowEditor.load(MODEL, {
    providers: ['webgpu'], debug: true, conversionCacheDir: join(tmp, 'conversion'), log: (l) => lines.push(l),
  });
});

after(async () => {
  await editor?.release();
  rmSync(tmp, { recursive: true, force: true });
});

test('WebGPU float16 TokenFlow graph, steps 0 and 49 from golden inputs: step 0\'s records, queries, nearest neighbours, propagated attention; each step\'s output', async (t) => {
  assert.deepEqual(lines, ['unet: running on webgpu with the float16 graph']);
  const debug = new Map<string, DebugTensor>();
  const step0 = (await editor.step({ ...golden.stepArgs(0), onDebugTensor: (name, tensor) => debug.set(name, tensor) })).prevSample;
  const worst = golden.compareStep0(editor.blockNames, debug);
  const step49 = maxAbsDiff((await editor.step(golden.stepArgs(49))).prevSample, golden.next(49));
  const out0 = maxAbsDiff(step0, golden.next(0));
  t.diagnostic(`WebGPU float16 step 0: ${JSON.stringify(worst)}; one-step max abs errors 0: ${out0.toExponential(2)}, 49: ${step49.toExponential(2)}`);
  assert.equal(worst.nnTotal, 20208);
  assert.ok(worst.nnDiffer / worst.nnTotal <= 0.05, `${worst.nnDiffer} of ${worst.nnTotal} nearest-neighbour indices differ`);
  assert.ok(worst.nnMaxGap <= 5e-2, `${worst.nnWorst} is not a near-tie (golden cosine gap ${worst.nnMaxGap})`);
  assert.ok(worst.P_src <= 0.2, `kf P_src ${worst.P_src}`);
  assert.ok(worst.A <= 3e-2, `kf A ${worst.A}`);
  assert.ok(worst.attn <= 3e-2, `propagated attn ${worst.attn}`);
  assert.ok(worst.firstQuery <= 7e-2, `query of the first block ${worst.firstQuery}`);
  assert.ok(worst.queryP99 <= 0.1, `query p99 ${worst.queryP99}`);
  assert.ok(worst.query <= 1, `query ${worst.query}`);
  assert.ok(out0 <= 2.5e-2, `step 0: max abs error ${out0}`);
  assert.ok(step49 <= 2.5e-3, `step 49: max abs error ${step49}`);
});
