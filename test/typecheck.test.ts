// The whole code base type-checks under strict TypeScript (tsx runs it without checking).
// The two projects are checked at once: each tsc keeps one core busy, and on a 2-core machine
// node --test runs one test file at a time (its default concurrency is the cores less one).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

describe('typecheck', { concurrency: true }, () => {
  for (const project of ['tsconfig.json', 'plugin/tsconfig.json']) {
    test(`tsc --noEmit -p ${project} reports no errors`, async () => {
      const result = await promisify(execFile)(process.execPath, [tsc, '-p', project, '--noEmit'], { maxBuffer: 16 * 1024 * 1024 })
        .then(() => ({ code: 0, out: '' }), (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }));
      assert.equal(result.code, 0, result.out);
    });
  }
});
