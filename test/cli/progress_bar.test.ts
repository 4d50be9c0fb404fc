// `tokenflow edit`'s progress on stderr: a bar redrawn in place on a terminal, a line per tenth
// of a stage in a log, and log lines that never tear the bar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stderrProgress } from '../../companion/cli/progress_bar.ts';

function stream(isTTY: boolean) {
  const written: string[] = [];
  return { written, stream: { isTTY, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream };
}

test('in a log: a line when a stage reaches another tenth, with its step and ETA', () => {
  const { written, stream: out } = stream(false);
  const bar = stderrProgress(out);
  bar.update('edit', 0, 10, null, 'step 1/2');
  bar.update('edit', 0.5, 10, null, 'step 1/2');
  bar.update('edit', 5, 10, 65, '');
  bar.update('encode', 10, 10, 3700, '');
  bar.line('done editing');
  bar.done();
  assert.deepEqual(written, [
    'edit    [........................]   0%  step 1/2\n',
    'edit    [############............]  50%  ETA 1m05s\n',
    'encode  [########################] 100%  ETA 1h01m\n',
    'done editing\n',
  ]);
});

test('on a terminal: the bar is redrawn in place; a log line clears it, then it is drawn again', () => {
  const { written, stream: out } = stream(true);
  const bar = stderrProgress(out);
  bar.update('invert', 1, 4, 12.4, '');
  bar.update('invert', 1, 4, 12.4, '');
  bar.update('invert', 2, 4, 8, '');
  bar.line('reusing the cached latents');
  bar.done();
  const first = 'invert  [######..................]  25%  ETA 12s';
  const second = 'invert  [############............]  50%  ETA 8s';
  assert.deepEqual(written, [
    `\r${first}`,
    `\r${second.padEnd(first.length)}`,
    `\r${' '.repeat(second.length)}\r`,
    'reusing the cached latents\n',
    second,
    '\n',
  ]);
});
