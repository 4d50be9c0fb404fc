import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timestepFrequencies, timesteps } from '../../companion/models/embeddings.ts';
import { Graph } from '../../companion/runtime/graph.ts';
import { createSession, run, ort } from '../../companion/runtime/session.ts';

test('timestep frequencies follow get_timestep_embedding in float32', () => {
  // torch: exp(-log(10000) * arange(160, dtype=float32) / 160), SD's 320 channels.
  const f = timestepFrequencies(320, 0);
  assert.equal(f.length, 160);
  assert.equal(f[0], 1);
  assert.ok(Math.abs(f[80]! - 0.01) < 1e-8, `f[80] = ${f[80]}`);
  assert.ok(Math.abs(f[159]! - Math.exp(-Math.log(10000) * 159 / 160)) < 1e-9);
  // downscale_freq_shift 1 divides by half - 1, so the last frequency is exactly 1/10000.
  assert.ok(Math.abs(timestepFrequencies(320, 1)[159]! - 1e-4) < 1e-10);
});

test('Timesteps: [sin, cos] or flipped [cos, sin], zero-padded when odd', async () => {
  const g = new Graph('timesteps');
  const t = g.input('t', 'int64', ['b']);
  g.output(timesteps(g, t, 8, { flipSinToCos: true, downscaleFreqShift: 0 }), 'flip');
  g.output(timesteps(g, t, 8, { flipSinToCos: false, downscaleFreqShift: 1, name: 'noflip' }), 'noflip');
  g.output(timesteps(g, t, 7, { flipSinToCos: false, downscaleFreqShift: 1, name: 'odd' }), 'odd');
  const session = await createSession(g, { providers: ['cpu'] });
  const ts = [0, 1, 981];
  const out = await run(session, { t: new ort.Tensor('int64', BigInt64Array.from(ts.map(BigInt)), [3]) });
  const flip = out.flip!.data as Float32Array;
  const noflip = out.noflip!.data as Float32Array;
  const odd = out.odd!.data as Float32Array;
  assert.deepEqual(out.odd!.dims, [3, 7]);
  ts.forEach((tv, b) => {
    for (let i = 0; i < 4; i++) {
      const a0 = tv * Math.exp(-Math.log(10000) * i / 4);
      const a1 = tv * Math.exp(-Math.log(10000) * i / 3);
      assert.ok(Math.abs(flip[b * 8 + i]! - Math.cos(a0)) < 2e-4 && Math.abs(flip[b * 8 + 4 + i]! - Math.sin(a0)) < 2e-4, `flip t=${tv} i=${i}`);
      assert.ok(Math.abs(noflip[b * 8 + i]! - Math.sin(a1)) < 2e-4 && Math.abs(noflip[b * 8 + 4 + i]! - Math.cos(a1)) < 2e-4, `noflip t=${tv} i=${i}`);
    }
    for (let i = 0; i < 3; i++) {
      const a = tv * Math.exp(-Math.log(10000) * i / 2);
      assert.ok(Math.abs(odd[b * 7 + i]! - Math.sin(a)) < 2e-4 && Math.abs(odd[b * 7 + 3 + i]! - Math.cos(a)) < 2e-4, `odd t=${tv} i=${i}`);
    }
    assert.equal(odd[b * 7 + 6], 0);
  });
});
