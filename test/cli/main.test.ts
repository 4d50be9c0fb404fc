import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../companion/cli/main.ts';

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('--help lists every command with a summary; no command or an unknown one is a usage error', async () => {
  const help = await capture(['--help']);
  assert.equal(help.code, 0);
  for (const name of ['demo', 'edit', 'serve', 'token', 'jobs', 'models', 'probe', 'debug']) {
    assert.match(help.out, new RegExp(`^  ${name} +\\S.+$`, 'm'), name);
  }
  assert.equal((await capture([])).code, 2);
  const unknown = await capture(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command "frobnicate"/);
});

test('each command answers --help with its own text and exit code 0', async () => {
  for (const name of ['demo', 'edit', 'serve', 'token', 'jobs', 'models', 'probe', 'debug']) {
    const r = await capture([name, '--help']);
    assert.equal(r.code, 0, name);
    assert.match(r.out, new RegExp(`tokenflow ${name}`), name);
  }
});
