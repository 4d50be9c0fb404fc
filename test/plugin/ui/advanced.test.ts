// The panel's Advanced form comes from the parameter table: rendered in headless Chromium, it
// has one field per row, in the table's order, with the row's label, step, hint and default,
// and a typed value is checked by the row's schema.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { PARAMETERS } from '../../../shared/parameters.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

/** The Advanced section alone, on a page, over a stand-in for the panel model with the defaults. */
const ENTRY = `
import { AdvancedSection } from ${JSON.stringify(path.resolve(HERE, '../../../plugin/src/ui/advanced.ts'))};
import { defaultSettings } from ${JSON.stringify(path.resolve(HERE, '../../../plugin/src/app/settings.ts'))};
const model = {
  settings: { ...defaultSettings(), advancedOpen: true },
  updateSettings(patch) { this.settings = { ...this.settings, ...patch }; window.updates.push(patch); },
  resetParameters() {},
};
window.updates = [];
const section = new AdvancedSection(model);
document.body.appendChild(section.el);
section.update(undefined);
`;

test('the Advanced form has one field per table row, with its label, step, hint, default and check', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tokenflow-advanced-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const built = await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: dir, loader: 'ts' },
    bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2020', logLevel: 'warning',
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.setContent('<!doctype html><html><body></body></html>');
  await page.addScriptTag({ content: built.outputFiles[0]!.text });

  const fields = await page.$$eval('label.param', (labels) => labels.map((l) => ({
    label: l.querySelector('.label')?.textContent,
    testid: l.querySelector('input')?.getAttribute('data-testid') ?? null,
    step: l.querySelector('input')?.getAttribute('step') ?? null,
    value: l.querySelector('input')?.value ?? null,
    hint: l.querySelector('.hint')?.textContent,
  })));
  const parameterFields = fields.filter((f) => f.testid?.startsWith('param-'));
  assert.deepEqual(parameterFields, PARAMETERS.map((p) => ({
    label: p.label,
    testid: `param-${p.key}`,
    step: String(p.step),
    value: String(p.default),
    hint: `${p.help} Reference: ${p.default}.`,
  })));

  for (const p of PARAMETERS) {
    const input = `[data-testid="param-${p.key}"]`;
    await page.fill(input, String(p.max + 1));
    assert.equal(await page.textContent(`label.param:has(${input}) .error`), `${p.key} must be ${p.type === 'int' ? 'a whole number' : 'a number'} from ${p.min} to ${p.max}`);
    await page.fill(input, String(p.min));
    assert.equal(await page.textContent(`label.param:has(${input}) .error`), '');
  }
  const updates = await page.evaluate(() => (window as unknown as { updates: Array<{ parameters: Record<string, number> }> }).updates);
  assert.deepEqual(updates.at(-1)!.parameters, Object.fromEntries(PARAMETERS.map((p) => [p.key, p.min])));
});
