import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { launchScript, reg, RUN_KEY, scriptPath } from '../../companion/service/windows.ts';
import type { ServiceSpec } from '../../companion/service/spec.ts';

const spec: ServiceSpec = {
  command: ['C:\\Users\\Ed\\tokenflow-companion\\runtime\\node.exe', 'C:\\Users\\Ed\\tokenflow-companion\\lib\\tokenflow.mjs', 'serve'],
  logFile: 'C:\\Users\\Ed\\AppData\\Local\\TokenFlow\\service.log',
  environment: { TOKENFLOW_OUTPUT_DIR: 'D:\\Renders "final"' },
  workingDir: 'C:\\Users\\Ed\\AppData\\Local\\TokenFlow',
  home: 'C:\\Users\\Ed',
  queuePassword: { file: 'C:\\Users\\Ed\\AppData\\Roaming\\TokenFlow\\queue-password', value: undefined },
};

test('the script runs serve hidden with its output appended to the log', () => {
  const script = launchScript(spec);
  const lines = script.split('\r\n');
  assert.ok(lines.includes('env("TOKENFLOW_OUTPUT_DIR") = "D:\\Renders ""final"""'));
  assert.ok(lines.includes('shell.CurrentDirectory = "C:\\Users\\Ed\\AppData\\Local\\TokenFlow"'));
  assert.ok(lines.includes(
    'shell.Run "cmd /c """"C:\\Users\\Ed\\tokenflow-companion\\runtime\\node.exe"" ""C:\\Users\\Ed\\tokenflow-companion\\lib\\tokenflow.mjs"" ""serve"" >> ""C:\\Users\\Ed\\AppData\\Local\\TokenFlow\\service.log"" 2>&1""", 0, False',
  ), script);
  assert.ok(!/[^\r]\n/.test(script), 'CRLF line ends only');
});

test('the Run value starts the script with wscript, without administrator rights', () => {
  const dataDir = 'C:\\Users\\Ed\\AppData\\Local\\TokenFlow';
  const file = scriptPath(dataDir);
  assert.equal(file, path.join(dataDir, 'tokenflow-service.vbs'), 'in the data folder');
  const c = reg(file);
  assert.equal(RUN_KEY, 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run');
  assert.deepEqual(c.install, [
    ['reg', 'add', RUN_KEY, '/v', 'TokenFlow', '/t', 'REG_SZ', '/d', `wscript.exe //B //Nologo "${file}"`, '/f'],
    ['wscript.exe', '//B', '//Nologo', file],
  ]);
  assert.deepEqual(c.uninstall, [['reg', 'delete', RUN_KEY, '/v', 'TokenFlow', '/f']]);
});
