import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, requestFingerprint } from '../../companion/jobs/idempotency.ts';
import { JobRequest } from '../../shared/jobs.ts';
import { sampleRequest } from './helpers.ts';

test('canonical JSON sorts keys at every level', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } }), '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}');
});

test('fingerprint ignores key order, the key itself and the range form', () => {
  const a = JobRequest.parse({ ...sampleRequest('/m/a.mov'), idempotency_key: 'k1', parameters: { steps: 20, seed: 3 } });
  const b = JobRequest.parse({ parameters: { seed: 3, steps: 20 }, idempotency_key: 'k2', prompt: 'a red fox', source_path: '/m/a.mov', range: { start_seconds: 0, end_seconds: 0.4 } });
  assert.equal(requestFingerprint(a), requestFingerprint(b));
  assert.match(requestFingerprint(a), /^[0-9a-f]{64}$/);
});

test('fingerprint changes with any field that changes the render', () => {
  const base = JobRequest.parse(sampleRequest('/m/a.mov'));
  const variants = [
    { prompt: 'a blue fox' },
    { parameters: { steps: 49 } },
    { codec: 'h264' as const },
    { output_kind: 'video+audio' as const },
    { source_path: '/m/b.mov' },
    { range: { start_ticks: '0', end_ticks: '101606400001' } },
  ];
  for (const v of variants) {
    assert.notEqual(requestFingerprint(JobRequest.parse({ ...sampleRequest('/m/a.mov'), ...v })), requestFingerprint(base), JSON.stringify(v));
  }
});
