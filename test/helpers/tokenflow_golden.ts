// The TokenFlow golden run of tiny-sdlayout (test/fixtures/README.md, "tiny-sdlayout"): the
// edit step's inputs per step, and the comparison of step 0's debug tensors with the golden
// ones (keyframe records, queries, nearest-neighbour indices, propagated attention).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DDIMScheduler } from '../../companion/models/ddim.ts';
import type { DebugTensor, EditStepArgs } from '../../companion/pipeline/edit_step.ts';
import { GoldenParts } from './golden_parts.ts';
import { maxAbsDiff } from './tensors.ts';

export const N = 16;
export const B = 4;
export const K = 4;
export const FRAME = 4 * 16 * 16;

export class TokenFlowGolden {
  readonly golden: GoldenParts;
  readonly step0: GoldenParts;
  readonly xSteps: Float32Array;
  private readonly inverted: Float32Array;
  private readonly pivots: number[];
  private readonly timesteps: number[];
  private readonly embeds: EditStepArgs['embeds'];
  private readonly scheduler: DDIMScheduler;

  constructor(modelDir: string) {
    this.golden = GoldenParts.open(`${modelDir}/golden`, 'tokenflow');
    this.step0 = GoldenParts.open(`${modelDir}/golden`, 'tokenflow_step0');
    this.xSteps = this.golden.readFloat32('x_steps');
    this.inverted = this.golden.readFloat32('inverted.latents');
    this.pivots = this.golden.readInts('pivots');
    this.timesteps = this.golden.readInts('timesteps');
    const text = this.golden.readFloat32('text.embeds');
    const per = text.length / 3;
    this.embeds = { src: text.subarray(0, per), unc: text.subarray(per, 2 * per), cnd: text.subarray(2 * per) };
    this.scheduler = new DDIMScheduler(JSON.parse(readFileSync(`${modelDir}/scheduler/scheduler_config.json`, 'utf8')));
    this.scheduler.setTimesteps(50);
  }

  /** Step s from golden x_steps[s] and the inverted latents (50 steps, guidance 7.5, the reference's PnP fractions). */
  stepArgs(s: number): EditStepArgs {
    return {
      x: this.xSteps.subarray(s * N * FRAME, (s + 1) * N * FRAME),
      srcLatents: this.inverted.subarray(s * N * FRAME, (s + 1) * N * FRAME),
      shape: { n: N, h: 16, w: 16 },
      t: this.timesteps[s]!, stepIndex: s, steps: 50, scheduler: this.scheduler,
      pivots: this.pivots.slice(s * K, (s + 1) * K),
      embeds: this.embeds, guidance_scale: 7.5, batch_size: B, pnp_attn_t: 0.5, pnp_f_t: 0.8,
    };
  }

  /** Golden x_steps[s+1], what one step from x_steps[s] should give. */
  next(s: number): Float32Array {
    return this.xSteps.subarray((s + 1) * N * FRAME, (s + 2) * N * FRAME);
  }

  /** Worst errors of step 0's debug tensors against the golden ones, over all blocks. */
  compareStep0(blocks: readonly string[], debug: Map<string, DebugTensor>): Step0Errors {
    const worst: Step0Errors = { P_src: 0, A: 0, query: 0, firstQuery: 0, queryP99: 0, attn: 0, nnDiffer: 0, nnTotal: 0, nnMaxShare: 0, nnMaxGap: 0, nnWorst: '' };
    const queryErrors: number[] = [];
    for (const block of blocks) {
      const pName = `kf.${block}.P_src`;
      const [, T, D] = this.step0.info(pName).shape as [number, number, number];
      assert.deepEqual(debug.get(pName)!.dims, [K, T, D]);
      worst.P_src = Math.max(worst.P_src, maxAbsDiff(debug.get(pName)!.data as Float32Array, this.step0.readFloat32(pName)));
      worst.A = Math.max(worst.A, maxAbsDiff(debug.get(`kf.${block}.A`)!.data as Float32Array, this.step0.readFloat32(`kf.${block}.A`)));
      const pSrc = this.step0.readFloat32(pName);
      for (const b of [0, 1]) {
        const query = this.step0.readFloat32(`b${b}.${block}.query`);
        const ours = debug.get(`b${b}.${block}.query`)!.data as Float32Array;
        const err = maxAbsDiff(ours, query);
        worst.query = Math.max(worst.query, err);
        if (block === blocks[0]) worst.firstQuery = Math.max(worst.firstQuery, err);
        for (let i = 0; i < ours.length; i++) queryErrors.push(Math.abs(ours[i]! - query[i]!));
        // Rows whose indices all agree with the golden ones; attn is compared on those.
        const agree = new Uint8Array(B * T).fill(1);
        for (const [kind, keyframe] of b === 0 ? [['nn_cur', 0]] as const : [['nn_cur', 1], ['nn_prev', 0]] as const) {
          const want = this.step0.readInts(`b${b}.${block}.${kind}`);
          const got = debug.get(`b${b}.${block}.${kind}`)!;
          assert.deepEqual(got.dims, [B, T]);
          const indices = Array.from(got.data as BigInt64Array, Number);
          const keys = pSrc.subarray(keyframe * T * D, (keyframe + 1) * T * D);
          let differ = 0;
          indices.forEach((idx, r) => {
            if (idx === want[r]) return;
            differ++;
            agree[r] = 0;
            // How far, on the golden data, our choice is from the best cosine: a near-tie if small.
            const sims = cosines(query, r, keys, T, D);
            const gap = Math.max(...sims) - sims[idx]!;
            if (gap > worst.nnMaxGap) {
              worst.nnMaxGap = gap;
              worst.nnWorst = `b${b}.${block}.${kind}[${r}]: ${idx} vs golden ${want[r]}`;
            }
          });
          worst.nnMaxShare = Math.max(worst.nnMaxShare, differ / indices.length);
          worst.nnDiffer += differ;
          worst.nnTotal += indices.length;
        }
        const got = debug.get(`b${b}.${block}.attn`)!.data as Float32Array; // [3, B, T, D]
        const want = this.step0.readFloat32(`b${b}.${block}.attn`);
        for (let br = 0; br < 3; br++) {
          for (let r = 0; r < B * T; r++) {
            if (!agree[r]) continue;
            const o = (br * B * T + r) * D;
            worst.attn = Math.max(worst.attn, maxAbsDiff(got.subarray(o, o + D), want.subarray(o, o + D)));
          }
        }
      }
    }
    queryErrors.sort((a, b) => a - b);
    worst.queryP99 = queryErrors[Math.floor(0.99 * (queryErrors.length - 1))]!;
    return worst;
  }
}

export interface Step0Errors {
  /** Max abs errors: keyframe records, propagate-pass queries (all blocks, the first block only, p99), propagated attention on agreeing rows. */
  P_src: number;
  A: number;
  query: number;
  firstQuery: number;
  queryP99: number;
  attn: number;
  /** Nearest-neighbour indices differing from the golden ones, of all compared. */
  nnDiffer: number;
  nnTotal: number;
  /** Largest share of differing indices in one block/batch/kind. */
  nnMaxShare: number;
  /** Largest golden cosine gap between the best key and ours, and where. */
  nnMaxGap: number;
  nnWorst: string;
}

/** Cosine similarities of one query row against every token of a keyframe's P_src. */
function cosines(query: Float32Array, row: number, keys: Float32Array, tokens: number, channels: number): number[] {
  const q = query.subarray(row * channels, (row + 1) * channels);
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const qn = norm(q);
  return Array.from({ length: tokens }, (_, t) => {
    const k = keys.subarray(t * channels, (t + 1) * channels);
    let dot = 0;
    for (let c = 0; c < channels; c++) dot += q[c]! * k[c]!;
    return dot / (qn * norm(k));
  });
}
