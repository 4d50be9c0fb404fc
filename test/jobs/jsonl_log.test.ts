import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JsonLinesLog } from '../../companion/jobs/jsonl_log.ts';
import { writeFileAtomic } from '../../companion/util/atomic_file.ts';
import { tempDir } from './helpers.ts';

const asEntry = (v: unknown) => {
  if (typeof (v as { n?: unknown }).n !== 'number') throw new Error('entry needs a number n');
  return v as { n: number };
};

test('appended entries are replayed in order after reopening', (t) => {
  const file = path.join(tempDir(t), 'sub', 'log.jsonl');
  const log = new JsonLinesLog(file, asEntry);
  assert.deepEqual(log.open(), { entries: [], tornTail: false, skipped: [] });
  for (let n = 0; n < 5; n++) log.append({ n });
  log.close();
  const again = new JsonLinesLog(file, asEntry).open();
  assert.deepEqual(again.entries.map((e) => e.n), [0, 1, 2, 3, 4]);
  assert.equal(again.tornTail, false);
});

test('a torn last line is dropped and the file repaired so later appends are clean', (t) => {
  const file = path.join(tempDir(t), 'log.jsonl');
  fs.writeFileSync(file, '{"n":1}\n{"n":2}\n{"n":3, "pa');
  const log = new JsonLinesLog(file, asEntry);
  const r = log.open();
  assert.deepEqual(r.entries.map((e) => e.n), [1, 2]);
  assert.equal(r.tornTail, true);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n');
  log.append({ n: 4 });
  log.close();
  assert.deepEqual(new JsonLinesLog(file, asEntry).open().entries.map((e) => e.n), [1, 2, 4]);
});

test('a damaged complete line is skipped with a reason naming the line', (t) => {
  const file = path.join(tempDir(t), 'log.jsonl');
  fs.writeFileSync(file, '{"n":1}\nnot json\n{"x":1}\n{"n":4}\n');
  const r = new JsonLinesLog(file, asEntry).open();
  assert.deepEqual(r.entries.map((e) => e.n), [1, 4]);
  assert.equal(r.skipped.length, 2);
  assert.match(r.skipped[0], /log\.jsonl:2:/);
  assert.match(r.skipped[1], /log\.jsonl:3: entry needs a number n/);
});

test('rewrite replaces the content atomically and appends continue after it', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'log.jsonl');
  const log = new JsonLinesLog(file, asEntry);
  log.open();
  for (let n = 0; n < 10; n++) log.append({ n });
  assert.equal(log.appendCount, 10);
  log.rewrite([{ n: 9 }]);
  assert.equal(log.appendCount, 0);
  log.append({ n: 10 });
  log.close();
  assert.equal(fs.readFileSync(file, 'utf8'), '{"n":9}\n{"n":10}\n');
  assert.deepEqual(fs.readdirSync(dir), ['log.jsonl'], 'no temp file left behind');
});

test('writeFileAtomic leaves only the final file', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'x.json');
  writeFileAtomic(file, 'one');
  writeFileAtomic(file, 'two');
  assert.equal(fs.readFileSync(file, 'utf8'), 'two');
  assert.deepEqual(fs.readdirSync(dir), ['x.json']);
});
