// WebGPU in tests: on Linux, Dawn runs on Vulkan (in CI Mesa's software lavapipe, which .ci/run
// installs), and Mesa wants XDG_RUNTIME_DIR to be an existing 0700 folder. Set here, before the
// first WebGPU session, for this process and the commands it spawns.
import { chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function prepareWebGpu(): void {
  if (process.platform !== 'linux' || process.env.XDG_RUNTIME_DIR) return;
  const dir = join(tmpdir(), `tokenflow-xdg-${process.getuid?.() ?? 'user'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  process.env.XDG_RUNTIME_DIR = dir;
}
