// The edit checkpoint (companion/pipeline/edit_checkpoint.ts) is saved after every edit step,
// so its write time adds to every step: save and load + verify of a 100-frame clip's latents at
// 512x512 (100 x 4 x 64 x 64 floats, 6.5 MB), median of 5 saves. Target: save median under 2 s
// (a real edit step at that size takes minutes).
// Run through `npm run bench -- checkpoint`, or alone: node --import tsx bench/checkpoint.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EditCheckpoint } from '../companion/pipeline/edit_checkpoint.ts';

const VALUES = 100 * 4 * 64 * 64;
const SAVES = 5;

export function benchCheckpoint(): object {
  const dir = mkdtempSync(join(tmpdir(), 'tokenflow-bench-checkpoint-'));
  try {
    const cp = new EditCheckpoint(join(dir, 'ckpt'), { k: 1 }, VALUES, 50);
    const x = new Float32Array(VALUES).map((_, i) => Math.sin(i));
    const saveMs: number[] = [];
    for (let s = 1; s <= SAVES; s++) {
      const started = performance.now();
      cp.save(s, x);
      saveMs.push(performance.now() - started);
    }
    const started = performance.now();
    const loaded = cp.load();
    const loadMs = performance.now() - started;
    if (loaded.found !== 'usable') throw new Error(`the saved checkpoint was not usable: ${JSON.stringify(loaded)}`);
    saveMs.sort((a, b) => a - b);
    return {
      latentsMB: Math.round((VALUES * 4) / 1e5) / 10,
      saveMedianMs: Math.round(saveMs[Math.floor(SAVES / 2)]!),
      saveMaxMs: Math.round(saveMs[SAVES - 1]!),
      loadMs: Math.round(loadMs),
      target: 'save median < 2000 ms',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(JSON.stringify(benchCheckpoint(), null, 2));
