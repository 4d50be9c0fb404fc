// The TokenFlow UNet graph in float16 (what GPU providers run), on the CPU provider, against the
// golden run of tiny-sdlayout: step 0's debug tensors and one step from golden latents.
//
// Bounds from measurement (2 cores, ORT 1.30), with the float32 graph fed the same fp16-rounded
// weights in brackets, which shows the weights' rounding is nearly all of it: keyframe P_src
// 1.26e-2 [1.07e-2], A 9.7e-4 [8.3e-4], propagated attn 8.0e-4 [7.6e-4], query in the first
// block 3.7e-3, over all blocks p99 1.2e-2 and max 0.196 [0.195] (rows downstream of a
// flipped nearest neighbour), 69 [68] of 20,208 nearest-neighbour indices differ, each within
// a golden cosine gap of 4.0e-3 [4.0e-3]; one step 1.3e-3 / 1.5e-3 / 6.2e-4 / 6.3e-5 at steps
// 0 / 1 / 25 / 49 [9.7e-4 / 1.1e-3 / 6.2e-4 / 8.4e-5]. Bounds are about 2.5x these.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenFlowEditor, type DebugTensor } from '../../companion/pipeline/edit_step.ts';
import { TokenFlowGolden } from '../helpers/tokenflow_golden.ts';
import { maxAbsDiff } from '../helpers/tensors.ts';

const MODEL = fileURLToPath(new URL('../fixtures/tiny-sdlayout', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'tokenflow-f16-editor-'));
let editor: TokenFlowEditor;
let golden: TokenFlowGolden;
const lines: string[] = [];

before(async () => {
  golden = new TokenFlowGolden(MODEL);
  editor = await TokenFlowEditor.load(MODEL, {
    providers: ['cpu'], dtype: 'float16', debug: true, conversionCacheDir: join(tmp, 'conversion'), log: (l) => lines.push(l),
  });
});

after(async () => {
  await editor?.release();
  rmSync(tmp, { recursive: true, force: true });
});

test('float16 TokenFlow graph, step 0 from golden inputs: records, queries, nearest neighbours, propagated attention', async () => {
  assert.deepEqual(lines, ['unet: running on cpu with the float16 graph']);
  const debug = new Map<string, DebugTensor>();
  await editor.step({ ...golden.stepArgs(0), onDebugTensor: (name, t) => debug.set(name, t) });
  const worst = golden.compareStep0(editor.blockNames, debug);
  console.log(`float16 step 0 max abs errors: ${JSON.stringify(worst)}`);
  assert.equal(worst.nnTotal, 20208);
  assert.ok(worst.nnDiffer / worst.nnTotal <= 0.01, `${worst.nnDiffer} of ${worst.nnTotal} nearest-neighbour indices differ`);
  assert.ok(worst.nnMaxGap <= 1e-2, `${worst.nnWorst} is not a near-tie (golden cosine gap ${worst.nnMaxGap})`);
  assert.ok(worst.P_src <= 3e-2, `kf P_src ${worst.P_src}`);
  assert.ok(worst.A <= 3e-3, `kf A ${worst.A}`);
  assert.ok(worst.attn <= 3e-3, `propagated attn ${worst.attn}`);
  assert.ok(worst.firstQuery <= 1e-2, `query of the first block ${worst.firstQuery}`);
  assert.ok(worst.queryP99 <= 4e-2, `query p99 ${worst.queryP99}`);
  assert.ok(worst.query <= 0.5, `query ${worst.query}`);
});

test('float16 TokenFlow graph, one step from golden x_steps[s] vs x_steps[s+1] (steps 0, 1, 25, 49; tol 4e-3)', async () => {
  const errors: string[] = [];
  for (const s of [0, 1, 25, 49]) {
    const err = maxAbsDiff((await editor.step(golden.stepArgs(s))).prevSample, golden.next(s));
    errors.push(`${s}:${err.toExponential(2)}`);
    assert.ok(err <= 4e-3, `step ${s}: max abs error ${err}`);
  }
  console.log(`float16 one-step max abs errors ${errors.join(' ')}`);
});
