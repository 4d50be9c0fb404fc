// The pairing-code notifier per OS: the code travels as data (argv or environment), never
// inside a script or a shell line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notifyCommand } from '../../companion/server/notify.ts';

const TEXT = '123 456: type it "now"; $(rm -rf ~)';

test('Linux: notify-send with title and text as separate arguments', () => {
  assert.deepEqual(notifyCommand('linux', 'TokenFlow pairing code', TEXT), {
    file: 'notify-send',
    args: ['--app-name=TokenFlow', '--expire-time=120000', 'TokenFlow pairing code', TEXT],
  });
});

test('macOS: osascript reads title and text from argv', () => {
  const command = notifyCommand('darwin', 'T', TEXT)!;
  assert.equal(command.file, 'osascript');
  assert.deepEqual(command.args.slice(-2), ['T', TEXT]);
  assert.ok(!command.args.slice(0, -2).some((a) => a.includes('123')), 'the text is not in the script');
});

test('Windows: PowerShell takes the strings from the environment', () => {
  const command = notifyCommand('win32', 'T', TEXT)!;
  assert.equal(command.file, 'powershell.exe');
  const script = command.args.at(-1)!;
  assert.match(script, /\$env:TOKENFLOW_NOTIFY_TEXT/);
  assert.ok(!command.args.some((a) => a.includes('123')));
});

test('other platforms: no notifier', () => {
  assert.equal(notifyCommand('aix', 'T', TEXT), undefined);
});
