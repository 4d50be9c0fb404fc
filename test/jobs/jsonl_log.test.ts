import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fsLogIo, JsonLinesLog, type LogIo } from '../../companion/jobs/jsonl_log.ts';
import { writeFileAtomic } from '../../companion/util/atomic_file.ts';
import { tempDir } from './helpers.ts';

const asEntry = (v: unknown) => {
  if (typeof (v as { n?: unknown }).n !== 'number') throw new Error('entry needs a number n');
  return v as { n: number };
};

test('appended entries are replayed in order after reopening', async (t) => {
  const file = path.join(tempDir(t), 'sub', 'log.jsonl');
  const log = new JsonLinesLog(file, asEntry);
  assert.deepEqual(log.open(), { entries: [], tornTail: false, damaged: [], backup: null });
  for (let n = 0; n < 5; n++) await log.append({ n });
  await log.close();
  const again = new JsonLinesLog(file, asEntry).open();
  assert.deepEqual(again.entries.map((e) => e.n), [0, 1, 2, 3, 4]);
  assert.equal(again.tornTail, false);
});

test('group commit: appends queued together share one write and one fsync, and resolve once it is done', async (t) => {
  const file = path.join(tempDir(t), 'log.jsonl');
  const calls: string[] = [];
  const counting: LogIo = {
    write: async (fd, data) => {
      calls.push(`write ${data.toString().trim().split('\n').length}`);
      await fsLogIo.write(fd, data);
    },
    fsync: async (fd) => {
      calls.push('fsync');
      await fsLogIo.fsync(fd);
    },
    truncate: fsLogIo.truncate,
  };
  const committed: number[][] = [];
  const log = new JsonLinesLog(file, asEntry, { committed: (entries) => committed.push(entries.map((e) => e.n)) }, counting);
  log.open();
  const resolved: number[] = [];
  const first = log.append({ n: 0 }).then(() => resolved.push(0));
  const rest = Array.from({ length: 9 }, (_, i) => log.append({ n: i + 1 }).then(() => resolved.push(i + 1)));
  assert.equal(fs.readFileSync(file, 'utf8'), '', 'nothing is written on the caller\'s turn of the event loop');
  await Promise.all([first, ...rest]);
  assert.deepEqual(resolved, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(calls, ['write 10', 'fsync']);
  assert.deepEqual(committed, [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  await log.close();
  assert.deepEqual(new JsonLinesLog(file, asEntry).open().entries.map((e) => e.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('a failed write (disk full after a partial write) is cut back: the file is as it was, the appends reject', async (t) => {
  const file = path.join(tempDir(t), 'log.jsonl');
  let full = false;
  const diskFull: LogIo = {
    write: async (fd, data) => {
      if (!full) return fsLogIo.write(fd, data);
      // What a full disk does: part of the line lands, then ENOSPC.
      await fsLogIo.write(fd, data.subarray(0, Math.floor(data.length / 2)));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
    fsync: fsLogIo.fsync,
    truncate: fsLogIo.truncate,
  };
  const refusedSeen: number[][] = [];
  const log = new JsonLinesLog(file, asEntry, { failed: (_err, refused) => refusedSeen.push(refused.map((e) => e.n)) }, diskFull);
  log.open();
  await log.append({ n: 1 });
  const before = fs.readFileSync(file, 'utf8');
  full = true;
  const results = await Promise.allSettled([log.append({ n: 2 }), log.append({ n: 3 })]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal((results[0] as PromiseRejectedResult).reason.code, 'ENOSPC');
  assert.deepEqual(refusedSeen, [[2, 3]]);
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'no fragment left for the next line to be glued onto');
  full = false;
  await log.append({ n: 4 });
  await log.close();
  const replay = new JsonLinesLog(file, asEntry).open();
  assert.deepEqual(replay.entries.map((e) => e.n), [1, 4]);
  assert.equal(replay.tornTail, false);
  assert.deepEqual(replay.damaged, []);
});

test('a torn last line is dropped and the file repaired so later appends are clean', async (t) => {
  const file = path.join(tempDir(t), 'log.jsonl');
  fs.writeFileSync(file, '{"n":1}\n{"n":2}\n{"n":3, "pa');
  const log = new JsonLinesLog(file, asEntry);
  const r = log.open();
  assert.deepEqual(r.entries.map((e) => e.n), [1, 2]);
  assert.equal(r.tornTail, true);
  assert.equal(r.backup, null, 'a torn tail is the normal trace of a crash: no backup');
  assert.equal(fs.readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n');
  await log.append({ n: 4 });
  await log.close();
  assert.deepEqual(new JsonLinesLog(file, asEntry).open().entries.map((e) => e.n), [1, 2, 4]);
});

test('damaged complete lines are skipped with line and reason, and the original file is kept as a backup first', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'log.jsonl');
  const original = '{"n":1}\nnot json\n{"x":1}\n{"n":4}\n';
  fs.writeFileSync(file, original);
  const log = new JsonLinesLog(file, asEntry);
  const r = log.open();
  assert.deepEqual(r.entries.map((e) => e.n), [1, 4]);
  assert.deepEqual(r.damaged.map((d) => [d.line, d.text]), [[2, 'not json'], [3, '{"x":1}']]);
  assert.match(r.damaged[0].reason, /JSON/);
  assert.equal(r.damaged[1].reason, 'entry needs a number n');
  assert.match(path.basename(r.backup!), /^log\.jsonl\.bad-\d{4}-\d\d-\d\dT[\d-]+Z$/);
  assert.equal(fs.readFileSync(r.backup!, 'utf8'), original);
  assert.equal(fs.statSync(r.backup!).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"n":1}\n{"n":4}\n');
  await log.close();
});

test('rewrite replaces the content atomically, in turn with the appends', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'log.jsonl');
  const log = new JsonLinesLog(file, asEntry);
  log.open();
  const appends = Array.from({ length: 10 }, (_, n) => log.append({ n }));
  await Promise.all(appends);
  assert.equal(log.appendCount, 10);
  const rewritten = log.rewrite(() => [{ n: 9 }]);
  const after = log.append({ n: 10 });
  await Promise.all([rewritten, after]);
  assert.equal(log.appendCount, 1);
  await log.close();
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
