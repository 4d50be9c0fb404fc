// The keyframe pass's records, kept in host RAM between the keyframe pass and the propagate
// passes of one step: per keyframe and transformer block, the src branch's norm1 output
// P_src [T, D] and the attn1 outputs of the three branches A [3, T, D]. A propagate pass
// reads two keyframes (its own and the previous batch's); the edit step drops a keyframe as
// soon as no remaining batch needs it, so only a window's worth is ever held.
// Records are zero-copy views into the keyframe pass's output buffers (keyframe-major layout).

/** One transformer block's record for one keyframe. */
export interface BlockTokens {
  /** Tokens T (latent pixels at the block's level) and channels D. */
  tokens: number;
  channels: number;
  /** [T, D]: norm1(hidden states) of the src branch. */
  pSrc: Float32Array;
  /** [3, T, D]: attn1 output (after to_out) of src, unc, cnd. */
  attn: Float32Array;
}

/** A keyframe pass's output for one block: P [R, T, D] and A [R, 3, T, D] for R recorded keyframes. */
export interface BlockRecordOutput {
  dimsP: readonly number[];
  dataP: Float32Array;
  dimsA: readonly number[];
  dataA: Float32Array;
}

export class KeyframeTokens {
  private readonly records = new Map<number, BlockTokens[]>();

  constructor(readonly blocks: readonly string[]) {}

  /**
   * Stores keyframes first..first+R-1 from one keyframe-pass call's outputs (one entry per
   * block, in `blocks` order), as views into the output buffers.
   */
  putFromPass(first: number, outputs: readonly BlockRecordOutput[]): void {
    if (outputs.length !== this.blocks.length) throw new Error(`keyframe records: ${outputs.length} block outputs for ${this.blocks.length} blocks`);
    // Keyframes still held from earlier passes (the previous batch's keyframe) get their own
    // copies, so their pass's output buffers, shared with dropped keyframes, can be freed.
    for (const rec of this.records.values()) {
      for (const b of rec) {
        b.pSrc = b.pSrc.slice();
        b.attn = b.attn.slice();
      }
    }
    const count = outputs[0]?.dimsP[0] ?? 0;
    const perKeyframe: BlockTokens[][] = Array.from({ length: count }, () => []);
    outputs.forEach((o, b) => {
      const [r, tokens, channels] = o.dimsP as [number, number, number];
      const [ra, three, ta, ca] = o.dimsA as [number, number, number, number];
      if (r !== count || ra !== count || three !== 3 || ta !== tokens || ca !== channels) {
        throw new Error(`keyframe records of ${this.blocks[b]}: P_src [${o.dimsP}] and A [${o.dimsA}] do not match`);
      }
      const p = tokens * channels;
      for (let k = 0; k < count; k++) {
        perKeyframe[k]!.push({
          tokens, channels,
          pSrc: o.dataP.subarray(k * p, (k + 1) * p),
          attn: o.dataA.subarray(k * 3 * p, (k + 1) * 3 * p),
        });
      }
    });
    perKeyframe.forEach((rec, k) => this.records.set(first + k, rec));
  }

  has(keyframe: number): boolean {
    return this.records.has(keyframe);
  }

  get(keyframe: number): BlockTokens[] {
    const rec = this.records.get(keyframe);
    if (!rec) throw new Error(`keyframe ${keyframe} has no records (held: ${[...this.records.keys()].join(', ') || 'none'})`);
    return rec;
  }

  /** Forgets every keyframe below `keyframe` (no later batch needs them). */
  dropBefore(keyframe: number): void {
    for (const k of this.records.keys()) if (k < keyframe) this.records.delete(k);
  }

  clear(): void {
    this.records.clear();
  }

  get keyframes(): number[] {
    return [...this.records.keys()].sort((a, b) => a - b);
  }

  /** Bytes of the output buffers still referenced (a buffer is shared by a call's keyframes). */
  get bytes(): number {
    const buffers = new Set<ArrayBufferLike>();
    for (const rec of this.records.values()) for (const b of rec) { buffers.add(b.pSrc.buffer); buffers.add(b.attn.buffer); }
    let total = 0;
    for (const buf of buffers) total += buf.byteLength;
    return total;
  }
}
