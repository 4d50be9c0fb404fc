// manifest.json: the fields UXP and packaging require, the least network permission that
// works, icons that the build really produces, and entry points that are exactly what
// main.ts registers with entrypoints.setup().
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_PORT } from '../../companion/config.ts';
import { pluginIcons } from '../../plugin/build/icons.ts';
import { allowedDaemonPorts } from '../../plugin/src/app/network.ts';
import { DEFAULT_DAEMON_PORT } from '../../plugin/src/app/settings.ts';
import { COMMAND_ID, PANEL_ID, PLUGIN_ID } from '../../plugin/src/entrypoints.ts';
import { registerEntrypoints } from '../../plugin/src/main.ts';
import { FakeEntrypoints } from './fake_uxp.ts';

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', root), 'utf8'));
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

interface Icon {
  width: number;
  height: number;
  path: string;
  scale: number[];
}

test('required fields, host object with the 26.3 minimum', () => {
  assert.equal(manifest.manifestVersion, 5);
  assert.equal(manifest.id, PLUGIN_ID);
  assert.equal(manifest.name, 'TokenFlow');
  assert.equal(manifest.version, pkg.version, 'plugin and package versions move together');
  assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
  assert.equal(manifest.main, 'index.html');
  assert.ok(existsSync(new URL('plugin/index.html', root)));
  assert.deepEqual(manifest.host, { app: 'premierepro', minVersion: '26.3.0' }, 'an object (packaging refuses arrays)');
});

test('entry points are exactly those registered by main.ts', () => {
  const entrypoints = new FakeEntrypoints();
  registerEntrypoints({ entrypoints, storage: { secureStorage: undefined as never } }, { showPanel: () => {}, editSelected: async () => {} });
  const registered = entrypoints.calls[0];
  const ids = (type: string) => manifest.entrypoints.filter((e: { type: string }) => e.type === type).map((e: { id: string }) => e.id);
  assert.deepEqual(ids('panel'), Object.keys(registered.panels ?? {}));
  assert.deepEqual(ids('command'), Object.keys(registered.commands ?? {}));
  assert.deepEqual(ids('panel'), [PANEL_ID]);
  assert.deepEqual(ids('command'), [COMMAND_ID]);
  assert.equal(manifest.entrypoints.length, 2, 'only panel and command entry points exist in Premiere');
  for (const entry of manifest.entrypoints) assert.ok(entry.label?.default, `${entry.id} has a label`);
  assert.equal(manifest.entrypoints.find((e: { id: string }) => e.id === COMMAND_ID).label.default, 'TokenFlow edit selected clip');
});

test('network permission: the daemon’s loopback http and ws origins only, nothing else', () => {
  assert.equal(DEFAULT_DAEMON_PORT, DEFAULT_PORT, 'panel and daemon agree on the default port');
  assert.deepEqual(Object.keys(manifest.requiredPermissions), ['network', 'ipc']);
  assert.deepEqual(manifest.requiredPermissions.network.domains, [`http://127.0.0.1:${DEFAULT_PORT}`, `ws://127.0.0.1:${DEFAULT_PORT}`]);
  assert.deepEqual(allowedDaemonPorts(manifest), [DEFAULT_PORT], 'the port the panel offers');
});

test('ipc permission: the command may show the panel through pluginManager', () => {
  assert.deepEqual(manifest.requiredPermissions.ipc, { enablePluginCommunication: true });
});

test('allowed daemon ports: both http and ws on 127.0.0.1 must be listed', () => {
  const with_ = (domains: string[] | string) => ({ requiredPermissions: { network: { domains } } });
  assert.deepEqual(allowedDaemonPorts(with_(['http://127.0.0.1:5000', 'ws://127.0.0.1:5000', 'http://127.0.0.1:43117', 'ws://127.0.0.1:43117'])), [5000, 43117]);
  assert.deepEqual(allowedDaemonPorts(with_(['http://127.0.0.1:5000'])), [], 'no ws: the events socket would be refused');
  assert.deepEqual(allowedDaemonPorts(with_(['http://localhost:5000', 'ws://localhost:5000'])), []);
  assert.deepEqual(allowedDaemonPorts(undefined), [DEFAULT_PORT]);
});

test('every icon the manifest names is generated, at its size and @2x', () => {
  const generated = pluginIcons();
  const icons: Icon[] = [...manifest.icons, ...manifest.entrypoints.flatMap((e: { icons?: Icon[] }) => e.icons ?? [])];
  assert.ok(icons.length >= 3);
  for (const icon of icons) {
    for (const scale of icon.scale) {
      const name = scale === 1 ? icon.path : icon.path.replace(/\.png$/, `@${scale}x.png`);
      const png = generated.get(name);
      assert.ok(png, `${name} is generated`);
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [icon.width * scale, icon.height * scale], name);
    }
  }
});
