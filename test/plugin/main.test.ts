// The command's way to the panel: pluginManager.showPanel, which the host may refuse.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PANEL_ID, PLUGIN_ID } from '../../plugin/src/entrypoints.ts';
import type { UxpModule, UxpPlugin } from '../../plugin/src/host/uxp.ts';
import { bringPanelForward, panelRefusedText } from '../../plugin/src/main.ts';

function uxpWith(...plugins: UxpPlugin[]): UxpModule {
  return { entrypoints: { setup() {} }, storage: { secureStorage: undefined as never }, pluginManager: { plugins: new Set(plugins) } };
}

test('the panel is shown through the plugin manager', async () => {
  const shown: string[] = [];
  const other = { id: 'com.example.other', showPanel: async () => void shown.push('wrong plugin') };
  assert.equal(await bringPanelForward(uxpWith(other, { id: PLUGIN_ID, showPanel: async (id) => void shown.push(id) })), undefined);
  assert.deepEqual(shown, [PANEL_ID]);
});

test('a refusal, a rejection or a missing plugin manager is turned into the reason', async () => {
  assert.equal(await bringPanelForward(uxpWith({ id: PLUGIN_ID, showPanel: async () => { throw new Error('Permission denied: ipc'); } })), 'Permission denied: ipc');
  assert.equal(await bringPanelForward(uxpWith({ id: PLUGIN_ID, showPanel: () => 'not allowed in this host' })), 'not allowed in this host');
  assert.equal(await bringPanelForward({ entrypoints: { setup() {} }, storage: { secureStorage: undefined as never } }), 'Premiere does not let the plugin open its panel');
  assert.match(panelRefusedText('x'), /^TokenFlow could not open its panel \(x\)\. Open it with Window › UXP Plugins › TokenFlow › TokenFlow; it picks up the selected clip\.$/);
});
