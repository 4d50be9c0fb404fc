// The GPU's name for the panel's checklist ("NVIDIA H200" rather than "cuda"). Asked of the
// driver's own tool where there is one; best effort: null when it cannot be told.
import { execFile } from 'node:child_process';
import type { Provider } from './session.ts';

/** The command that names the GPU a provider runs on, if any. */
export function gpuNameCommand(provider: Provider, platform: NodeJS.Platform): { file: string; args: string[] } | undefined {
  if (provider === 'cuda') return { file: 'nvidia-smi', args: ['--query-gpu=name', '--format=csv,noheader'] };
  if (provider === 'dml' && platform === 'win32') {
    return { file: 'powershell.exe', args: ['-NoProfile', '-NonInteractive', '-Command', '(Get-CimInstance Win32_VideoController | Select-Object -ExpandProperty Name) -join "`n"'] };
  }
  if (provider === 'coreml' && platform === 'darwin') return { file: 'sysctl', args: ['-n', 'machdep.cpu.brand_string'] };
  return undefined;
}

/** The first non-empty line of the tool's output (CUDA uses device 0 first); Apple's chip gets "GPU". */
export function parseGpuName(provider: Provider, output: string): string | null {
  const first = output.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  if (first === undefined) return null;
  return provider === 'coreml' ? `${first} GPU` : first;
}

export function gpuName(provider: Provider): Promise<string | null> {
  const command = gpuNameCommand(provider, process.platform);
  if (command === undefined) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile(command.file, command.args, { timeout: 10_000, windowsHide: true }, (err, stdout) => resolve(err ? null : parseGpuName(provider, String(stdout))));
  });
}
