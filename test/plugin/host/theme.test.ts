import assert from 'node:assert/strict';
import { test } from 'node:test';
import { followTheme, themeName } from '../../../plugin/src/host/theme.ts';
import { createFakeTheme } from '../fake_uxp.ts';

function fakeRoot() {
  const attributes = new Map<string, string>();
  return { attributes, setAttribute: (name: string, value: string) => void attributes.set(name, value) } as unknown as HTMLElement & { attributes: Map<string, string> };
}

test("Premiere's theme names map to the panel's palettes", () => {
  assert.equal(themeName('light'), 'light');
  assert.equal(themeName('lightest'), 'light');
  assert.equal(themeName('dark'), 'dark');
  assert.equal(themeName('darkest'), 'darkest');
  assert.equal(themeName('medium'), 'dark');
  assert.equal(themeName(undefined), 'dark');
});

test('the root follows document.theme, including later changes, until unsubscribed', () => {
  const root = fakeRoot();
  const theme = createFakeTheme('darkest');
  const stop = followTheme(root, theme, () => true);
  assert.equal(root.attributes.get('data-theme'), 'darkest');
  theme.set('light');
  assert.equal(root.attributes.get('data-theme'), 'light');
  stop();
  theme.set('dark');
  assert.equal(root.attributes.get('data-theme'), 'light');
});

test('without document.theme the colour-scheme preference decides', () => {
  const root = fakeRoot();
  followTheme(root, undefined, () => true);
  assert.equal(root.attributes.get('data-theme'), 'light');
  followTheme(root, undefined, () => false);
  assert.equal(root.attributes.get('data-theme'), 'dark');
});
