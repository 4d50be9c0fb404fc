// JSON from outside checked against its schema: the value when it fits, nothing otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { parseJsonAs } from '../../shared/parse_json.ts';

const Row = z.strictObject({ level: z.enum(['info', 'warn']), n: z.number().int() });

test('JSON of the schema\'s shape is the parsed value', () => {
  assert.deepEqual(parseJsonAs(Row, '{"level":"warn","n":3}'), { level: 'warn', n: 3 });
});

test('null, text that is no JSON, and JSON of another shape are all undefined', () => {
  assert.equal(parseJsonAs(Row, null), undefined);
  assert.equal(parseJsonAs(Row, '{"level":"warn",'), undefined);
  assert.equal(parseJsonAs(Row, ''), undefined);
  assert.equal(parseJsonAs(Row, '{"level":"loud","n":3}'), undefined);
  assert.equal(parseJsonAs(Row, '{"level":"info","n":3,"extra":true}'), undefined);
});
