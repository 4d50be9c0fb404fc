import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['bin/tokenflow.mjs', 'debug', 'tokenize', ...args]).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );

test('debug tokenize prints one JSON array of 77 ids per text', async () => {
  const golden = JSON.parse(readFileSync('test/fixtures/tiny-sd15/golden/tokenizer.json', 'utf8'));
  const curly = golden.cases[8];
  const { code, stdout } = await run('--model', 'test/fixtures/tiny-sd15', 'a photo', curly.text);
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as number[];
  assert.equal(first.length, 77);
  assert.deepEqual(first.slice(0, 5), [49406, 320, 1125, 49407, 49407]);
  assert.ok(first.slice(3).every((id) => id === 49407));
  assert.deepEqual(JSON.parse(lines[1]!), curly.input_ids);
});

test('debug tokenize: usage errors exit 2, a missing tokenizer exits 1 naming the folder', async () => {
  const noText = await run('--model', 'test/fixtures/tiny-sd15');
  assert.equal(noText.code, 2);
  assert.match(noText.stderr, /at least one TEXT/);
  const noModel = await run('a photo');
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /--model DIR is required/);
  const badModel = await run('--model', 'test/fixtures/nowhere', 'a photo');
  assert.equal(badModel.code, 1);
  assert.match(badModel.stderr, /no CLIP tokenizer in test\/fixtures\/nowhere/);
});
