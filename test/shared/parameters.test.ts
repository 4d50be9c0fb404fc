// The parameter table drives the job schema: every row is a field with its default, range and
// message, and the schema has no field the table lacks.
import { test } from 'node:test';
import fs from 'node:fs';
import assert from 'node:assert/strict';
import { JobParameterOverrides, JobParameters, PARAMETERS, REFERENCE_PARAMETERS } from '../../shared/parameters.ts';

test('the schema has exactly the table\'s parameters, with its defaults', () => {
  assert.deepEqual(Object.keys(JobParameters.shape), PARAMETERS.map((p) => p.key));
  assert.deepEqual(JobParameters.parse({}), Object.fromEntries(PARAMETERS.map((p) => [p.key, p.default])));
  assert.deepEqual({ ...REFERENCE_PARAMETERS }, JobParameters.parse({}));
  assert.equal(JobParameters.safeParse({ not_a_parameter: 1 }).success, false);
  assert.deepEqual(JobParameterOverrides.parse({}), {});
});

test('every row\'s range is the schema\'s, with the row\'s message', () => {
  for (const p of PARAMETERS) {
    const kind = p.type === 'int' ? 'a whole number' : 'a number';
    const message = `${p.key} must be ${kind} from ${p.min} to ${p.max}`;
    for (const ok of [p.min, p.max, p.default]) assert.equal(JobParameters.parse({ [p.key]: ok })[p.key], ok, `${p.key} = ${ok}`);
    for (const bad of [p.min - 1, p.max + 1, Number.NaN]) {
      const r = JobParameterOverrides.safeParse({ [p.key]: bad });
      assert.equal(r.success, false, `${p.key} = ${bad} must be refused`);
      assert.equal(r.error!.issues[0]!.message, message);
      assert.deepEqual(r.error!.issues[0]!.path, [p.key]);
    }
    const half = JobParameterOverrides.safeParse({ [p.key]: p.min + 0.5 });
    assert.equal(half.success, p.type === 'number', `${p.key} = ${p.min + 0.5}`);
  }
});

test('a row\'s multipleOf is enforced with its own message', () => {
  const rows = PARAMETERS.filter((p) => 'multipleOf' in p);
  assert.ok(rows.length > 0);
  for (const p of rows) {
    const r = JobParameterOverrides.safeParse({ [p.key]: p.min + p.multipleOf / 2 });
    assert.equal(r.success, false);
    assert.equal(r.error!.issues[0]!.message, `${p.key} must be a multiple of ${p.multipleOf} from ${p.min} to ${p.max}`);
  }
});

test('rows are complete: a default inside the range, a label, a help line and a distinct flag', () => {
  const flags = new Set(PARAMETERS.map((p) => p.flag));
  assert.equal(flags.size, PARAMETERS.length);
  for (const p of PARAMETERS) {
    assert.ok(p.min <= p.default && p.default <= p.max, p.key);
    assert.ok(p.label.length > 0 && p.help.length > 0, p.key);
    assert.match(p.flag, /^[a-z][a-z0-9-]*$/);
  }
});

test('README\'s parameter table has every row of the table', () => {
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const p of PARAMETERS) {
    const range = `${p.type === 'int' ? 'whole number ' : ''}${p.min} to ${p.max}${'multipleOf' in p ? `, multiple of ${p.multipleOf}` : ''}`;
    assert.ok(readme.includes(`| \`${p.key}\` | \`--${p.flag}\` | ${p.label} | ${p.default} | ${range} | ${p.help} |`), `README lists ${p.key}`);
  }
  const rows = readme.split('\n').filter((l) => /^\| `[a-z_]+` \| `--/.test(l));
  assert.equal(rows.length, PARAMETERS.length);
});
