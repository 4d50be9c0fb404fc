import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_UNFINISHED, ProgressTracker, STAGE_WEIGHTS } from '../../companion/jobs/progress.ts';
import { STAGES } from '../../shared/jobs.ts';

function clock() {
  let ms = 0;
  return { now: () => ms, advance: (s: number) => (ms += s * 1000) };
}

test('weights cover every stage and sum to 1', () => {
  assert.deepEqual(Object.keys(STAGE_WEIGHTS).sort(), [...STAGES].sort());
  assert.ok(Math.abs(Object.values(STAGE_WEIGHTS).reduce((a, b) => a + b) - 1) < 1e-9);
});

test('overall is weighted, monotonic and stays below 1 until the job succeeds', () => {
  const c = clock();
  const t = new ProgressTracker([], c.now);
  let last = 0;
  for (const stage of STAGES) {
    t.start(stage);
    for (let d = 1; d <= 4; d++) {
      c.advance(1);
      const p = t.update({ stage, done: d, total: 4 });
      assert.ok(p.overall >= last, `${stage} ${d}`);
      last = p.overall;
      assert.equal(p.stage_done, d);
      assert.equal(p.stage_total, 4);
    }
    t.finish(stage);
  }
  assert.equal(last, MAX_UNFINISHED);
  assert.ok(t.snapshot().overall < 1);
});

test('ETA: null before a measurement, then current-stage rate plus scaled future stages', () => {
  const c = clock();
  const t = new ProgressTracker([], c.now);
  t.start('probe');
  c.advance(0.5);
  t.finish('probe'); // 0.5 s for weight 0.01
  t.start('extract');
  assert.equal(t.snapshot().eta_s, null);
  c.advance(2);
  const p = t.update({ stage: 'extract', done: 10, total: 40 }); // 5 frames/s: 6 s left in extract
  const secondsPerWeight = (0.5 + 2) / (0.01 + 0.04 * 0.25);
  const future = 1 - 0.01 - 0.04;
  assert.ok(p.eta_s !== null);
  assert.ok(Math.abs(p.eta_s - (6 + future * secondsPerWeight)) < 1e-6, String(p.eta_s));
});

test('stages done by an earlier attempt count as complete', () => {
  const t = new ProgressTracker(['probe'], clock().now);
  t.skip('extract');
  t.skip('invert');
  const p = t.start('edit');
  assert.ok(Math.abs(p.overall - (0.01 + 0.04 + 0.3)) < 1e-9);
});

test('ETA of a resumed stage: units an earlier attempt did count as progress but not towards the rates', () => {
  const c = clock();
  const t = new ProgressTracker(['probe', 'extract', 'invert'], c.now);
  t.start('edit');
  let p = t.update({ stage: 'edit', done: 30, total: 40, doneBefore: 30 }); // resumed from a checkpoint at 30 of 40
  assert.ok(Math.abs(p.overall - (0.35 + 0.48 * 0.75)) < 1e-9);
  assert.equal(p.eta_s, null, 'nothing measured in this attempt yet');
  c.advance(10);
  p = t.update({ stage: 'edit', done: 31, total: 40, doneBefore: 30 }); // 1 unit in 10 s: 9 left = 90 s
  const secondsPerWeight = 10 / (0.48 * (1 / 40));
  assert.ok(p.eta_s !== null);
  assert.ok(Math.abs(p.eta_s - (90 + (0.05 + 0.12) * secondsPerWeight)) < 1e-6, String(p.eta_s));
});
