// `tokenflow edit`'s parameter options come from the table: one option per row, its help line
// with the row's default and range, and values read into the row's key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { command as edit } from '../../companion/cli/edit.ts';
import { UsageError } from '../../companion/cli/command.ts';
import { parameterOptions, parametersFromOptions } from '../../companion/cli/parameter_options.ts';
import { PARAMETERS, REFERENCE_PARAMETERS } from '../../shared/parameters.ts';

/** The help's entry for `--flag`: its first line and the indented lines after it, unwrapped. */
function helpEntry(help: string, flag: string): string {
  const lines = help.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`  --${flag} `));
  assert.ok(at >= 0, `--${flag} is in the help`);
  const rest = lines.slice(at + 1);
  const end = rest.findIndex((l) => !/^ {27}\S/.test(l));
  return [lines[at]!, ...rest.slice(0, end < 0 ? rest.length : end)].map((l) => l.trim().replace(/ {2,}/, ' ')).join(' ');
}

test('tokenflow edit --help lists every parameter in the table\'s order, with its help, default and range', () => {
  const entries = PARAMETERS.map((p) => helpEntry(edit.help, p.flag));
  for (const [i, p] of PARAMETERS.entries()) {
    const kind = p.type === 'int' ? 'a whole number' : 'a number';
    const multiple = 'multipleOf' in p ? `, a multiple of ${p.multipleOf}` : '';
    assert.equal(entries[i], `--${p.flag} ${p.type === 'int' ? 'N' : 'X'} ${p.help} Default ${p.default}; ${kind} from ${p.min} to ${p.max}${multiple}.`);
  }
  const positions = PARAMETERS.map((p) => edit.help.indexOf(`  --${p.flag} `));
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
  for (const line of edit.help.split('\n').filter((l) => PARAMETERS.some((p) => l.startsWith(`  --${p.flag} `)))) {
    assert.ok(line.length <= 96, `help line too long: ${line}`);
  }
});

test('one number option per row, read into the row\'s key over the defaults', () => {
  assert.deepEqual(Object.keys(parameterOptions), PARAMETERS.map((p) => p.flag));
  assert.deepEqual(Object.values(parameterOptions).map((o) => o.type), PARAMETERS.map(() => 'number'));
  assert.deepEqual(parametersFromOptions({}), REFERENCE_PARAMETERS);
  const values = Object.fromEntries(PARAMETERS.map((p) => [p.flag, p.max]));
  assert.deepEqual(parametersFromOptions(values), Object.fromEntries(PARAMETERS.map((p) => [p.key, p.max])));
  assert.deepEqual(parametersFromOptions({ guidance: 9, 'short-side': 256 }), { ...REFERENCE_PARAMETERS, guidance_scale: 9, short_side: 256 });
});

test('a bad value is refused naming the option and the row\'s range', () => {
  for (const p of PARAMETERS) {
    const kind = p.type === 'int' ? 'a whole number' : 'a number';
    assert.throws(() => parametersFromOptions({ [p.flag]: p.max + 1 }), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, `--${p.flag}: ${p.key} must be ${kind} from ${p.min} to ${p.max}`);
      return true;
    });
  }
  assert.throws(() => parametersFromOptions({ steps: 1.5 }), /--steps: steps must be a whole number from 1 to 1000/);
});
