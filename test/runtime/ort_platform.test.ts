import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { ORT_PLATFORMS, ortPlatformProblem } from '../../companion/runtime/ort_platform.ts';
import { BIN, tempDir } from '../helpers/cli.ts';

test('ONNX Runtime is allowed where onnxruntime-node 1.30 ships a binary', () => {
  for (const key of ORT_PLATFORMS) {
    const [platform, arch] = key.split('-') as [string, string];
    assert.equal(ortPlatformProblem(platform, arch), undefined, key);
  }
});

test('an Intel Mac gets the reason and what to do, other platforms the supported list', () => {
  const mac = ortPlatformProblem('darwin', 'x64');
  assert.match(mac!, /no build for Intel Macs \(darwin-x64; the last one was 1\.23\.2\)/);
  assert.match(mac!, /install the arm64 \(Apple silicon\) Node\.js/);
  assert.match(ortPlatformProblem('linux', 'ia32')!, /no build for linux-ia32.*it runs on darwin-arm64, linux-arm64, linux-x64, win32-arm64, win32-x64/);
});

test('tokenflow serve on an Intel Mac exits with the reason, not an import crash', async (t) => {
  // The platform is faked before anything loads; onnxruntime-node has no darwin-x64 binary to find.
  const fake = "data:text/javascript,Object.defineProperty(process,'platform',{value:'darwin'});Object.defineProperty(process,'arch',{value:'x64'});";
  const env = { ...process.env, TOKENFLOW_HOME: tempDir(t, 'tokenflow-intel-mac-') };
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', fake, BIN, 'serve'], { env, timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
  assert.equal(code, 1);
  assert.match(stderr, /^tokenflow serve: ONNX Runtime \(onnxruntime-node 1\.30\) has no build for Intel Macs/);
  assert.doesNotMatch(stderr, /onnxruntime_binding|\n\s+at /);
});
