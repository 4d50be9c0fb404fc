// Whether onnxruntime-node can load on this machine, decided before it is imported (session.ts
// imports this module first): importing it where its package has no native binary fails with
// a bare "Cannot find module .../onnxruntime_binding.node". onnxruntime-node 1.30 ships
// binaries for the platforms below; Intel Macs lost theirs after 1.23.2.

/** `<platform>-<arch>` pairs with a binary in onnxruntime-node 1.30 (bin/napi-v6/<platform>/<arch>). */
export const ORT_PLATFORMS = ['darwin-arm64', 'linux-arm64', 'linux-x64', 'win32-arm64', 'win32-x64'] as const;

/** Why ONNX Runtime cannot run here and what to do, or undefined when it can. */
export function ortPlatformProblem(platform: string = process.platform, arch: string = process.arch): string | undefined {
  const key = `${platform}-${arch}`;
  if ((ORT_PLATFORMS as readonly string[]).includes(key)) return undefined;
  if (key === 'darwin-x64') {
    return 'ONNX Runtime (onnxruntime-node 1.30) has no build for Intel Macs (darwin-x64; the last one was 1.23.2), ' +
      'so TokenFlow cannot run models on this Node.js. On an Apple silicon Mac this Node.js is the Intel build running ' +
      'under Rosetta: install the arm64 (Apple silicon) Node.js and reinstall TokenFlow with it. An Intel Mac is not ' +
      'supported; run the companion on an Apple silicon Mac, Windows or Linux x64 machine instead.';
  }
  return `ONNX Runtime (onnxruntime-node 1.30) has no build for ${key}, so TokenFlow cannot run models here; ` +
    `it runs on ${ORT_PLATFORMS.join(', ')}.`;
}

const problem = ortPlatformProblem();
if (problem) throw new Error(problem);
