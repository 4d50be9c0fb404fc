import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchctl, plist, plistPath } from '../../companion/service/launchd.ts';
import { awkwardSpec } from './helpers.ts';

test('the LaunchAgent runs serve at load, keeps it alive after a crash and logs to the data folder', () => {
  const xml = plist(awkwardSpec());
  assert.equal(plistPath('/Users/ed'), '/Users/ed/Library/LaunchAgents/org.tokenflow.companion.plist');
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist /);
  assert.match(xml, /<key>Label<\/key><string>org\.tokenflow\.companion<\/string>/);
  assert.match(xml, /<key>ProgramArguments<\/key>\n {2}<array>\n {4}<string>\/opt\/tokenflow companion\/runtime\/node<\/string>\n {4}<string>\/opt\/tokenflow companion\/lib\/tokenflow\.mjs<\/string>\n {4}<string>serve<\/string>\n {2}<\/array>/);
  assert.match(xml, /<key>TOKENFLOW_HOME<\/key><string>\/home\/ed\/My &quot;Data&quot; 100% \$x &amp; &lt;y&gt;<\/string>/);
  assert.match(xml, /<key>RunAtLoad<\/key><true\/>/);
  assert.match(xml, /<key>KeepAlive<\/key>\n {2}<dict><key>SuccessfulExit<\/key><false\/><\/dict>/);
  assert.match(xml, /<key>StandardOutPath<\/key><string>\/home\/ed\/My &quot;Data&quot; 100% \$x &amp; &lt;y&gt;\/service\.log<\/string>/);
  assert.match(xml, /<key>StandardErrorPath<\/key><string>[^<]*\/service\.log<\/string>/);
  // Balanced tags: every <dict>/<array> opened is closed.
  for (const tag of ['dict', 'array', 'plist']) assert.equal(xml.split(`<${tag}`).length, xml.split(`</${tag}>`).length, tag);
});

test('launchctl loads it into the GUI session of the user', () => {
  const c = launchctl(501, '/Users/ed/Library/LaunchAgents/org.tokenflow.companion.plist');
  assert.deepEqual(c.prepare, [['launchctl', 'bootout', 'gui/501/org.tokenflow.companion']]);
  assert.deepEqual(c.install, [['launchctl', 'bootstrap', 'gui/501', '/Users/ed/Library/LaunchAgents/org.tokenflow.companion.plist']]);
  assert.deepEqual(c.uninstall, [['launchctl', 'bootout', 'gui/501/org.tokenflow.companion']]);
  assert.deepEqual(c.status, ['launchctl', 'print', 'gui/501/org.tokenflow.companion']);
});
