// The option tables every `tokenflow` sub-command reads its command line with: typed values,
// and a UsageError naming the flag for every mistake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../companion/cli/command.ts';
import { parseCommandLine } from '../../companion/cli/options.ts';

const table = {
  name: { type: 'string' },
  output: { type: 'string', short: 'o' },
  codec: { type: 'string', parse: (text: string) => text.toUpperCase(), default: 'prores' },
  json: { type: 'boolean' },
  scale: { type: 'number' },
  threads: { type: 'int', min: 1, max: 256 },
  map: { type: 'list', parse: (text: string, flag: string) => `${flag}:${text}` },
  origin: { type: 'list' },
} as const;

/** The UsageError `args` give, by its message. */
function usage(args: string[], maxPositionals = 0): string {
  try {
    parseCommandLine(args, table, maxPositionals);
  } catch (err) {
    assert.ok(err instanceof UsageError, `a UsageError, got ${err}`);
    return err.message;
  }
  assert.fail(`${args.join(' ')} was accepted`);
}

test('absent options: undefined, booleans false, lists empty, a default read like a given value', () => {
  const { values, positionals } = parseCommandLine([], table);
  assert.deepEqual(values, { name: undefined, output: undefined, codec: 'PRORES', json: false, scale: undefined, threads: undefined, map: [], origin: [] });
  assert.deepEqual(positionals, []);
});

test('given options: typed values, short letters, repeated lists in order, parse functions given the flag', () => {
  const { values, positionals } = parseCommandLine(
    ['in.mov', '--name', 'x', '-o', 'out.mov', '--codec', 'h264', '--json', '--scale', '-.5', '--threads', '8', '--map', 'a=b', '--map', 'c=d', '--origin', 'null'],
    table,
    1,
  );
  assert.deepEqual(values, { name: 'x', output: 'out.mov', codec: 'H264', json: true, scale: -0.5, threads: 8, map: ['--map:a=b', '--map:c=d'], origin: ['null'] });
  assert.deepEqual(positionals, ['in.mov']);
});

test('numbers are decimal only; integers are digits within the range, a negative one gets the range message', () => {
  for (const text of ['0x10', '1e3', 'Infinity', '', 'abc']) assert.equal(usage(['--scale', text]), `--scale must be a decimal number, got "${text}"`);
  for (const [text, n] of [['+2', 2], ['3.', 3], [' 1.25 ', 1.25]] as const) assert.equal(parseCommandLine(['--scale', text], table).values.scale, n);
  for (const text of ['0', '257', '1.5', '0x2', '+4', '-3', '1e2']) assert.equal(usage(['--threads', text]), `--threads must be an integer from 1 to 256, got "${text}"`);
  assert.equal(parseCommandLine(['--threads=256'], table).values.threads, 256);
  // Only after an option that takes a value: elsewhere `-3` is an unknown option.
  assert.match(usage(['--json', '-3']), /Unknown option '-3'/);
});

test('what a parse function throws is a UsageError with its message; parseArgs\' own errors too', () => {
  const strict = { provider: { type: 'string', parse: (text: string, flag: string) => { throw new Error(`${flag}: unknown "${text}"`); } } } as const;
  assert.throws(() => parseCommandLine(['--provider', 'metal'], strict), (err: unknown) => err instanceof UsageError && err.message === '--provider: unknown "metal"');
  const own = new UsageError('said by the parser');
  const passes = { x: { type: 'list', parse: () => { throw own; } } } as const;
  assert.throws(() => parseCommandLine(['--x', '1'], passes), (err: unknown) => err === own);
  assert.match(usage(['--bogus']), /Unknown option '--bogus'/);
  assert.match(usage(['--name']), /argument missing/);
});

test('positional arguments: more than the command takes names the first one too many', () => {
  assert.equal(usage(['extra']), 'unexpected argument "extra"');
  assert.equal(usage(['list', 'id', 'more', 'most'], 2), 'unexpected argument "more"');
  assert.deepEqual(parseCommandLine(['a', 'b', 'c'], table, Infinity).positionals, ['a', 'b', 'c']);
});
