// `npm run bench [-- name... [--flag...]]`: runs the registered benchmarks one after another and
// writes bench/report.json. Add a benchmark by appending a row to `benches` (a lazy import, so
// one broken benchmark cannot stop the others from loading). Opt-in rows run only when named;
// flags go to every benchmark run.
import { writeFile } from 'node:fs/promises';
import { arch, cpus, platform } from 'node:os';
import { fileURLToPath } from 'node:url';

const benches: Array<{ name: string; optIn?: boolean; run: (flags: string[]) => Promise<object> }> = [
  { name: 'media', run: async () => (await import('./media.ts')).benchMedia() },
  { name: 'unet', run: async () => (await import('./unet.ts')).benchUNet() },
  { name: 'vae', run: async () => (await import('./vae.ts')).benchVae() },
  { name: 'daemon', run: async () => (await import('./daemon.ts')).benchDaemon() },
  { name: 'tokenflow-step', run: async () => (await import('./tokenflow_step.ts')).benchTokenFlowStep() },
  { name: 'pipeline', run: async () => (await import('./pipeline.ts')).benchPipeline() },
  { name: 'checkpoint', run: async () => (await import('./checkpoint.ts')).benchCheckpoint() },
  { name: 'package', run: async () => (await import('./package.ts')).benchPackage() },
  { name: 'providers', run: async () => (await import('./providers.ts')).benchProviders() },
  // Real redis-server, daemon and worker processes; minutes on a busy machine: bench/farm.ts.
  { name: 'farm', optIn: true, run: async () => (await import('./farm.ts')).benchFarm() },
  // Needs a real GPU (or --dry-run): bench/gpu.ts.
  { name: 'gpu', optIn: true, run: async (flags) => (await import('./gpu.ts')).benchGpu(flags) },
];

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const unknown = wanted.filter((w) => !benches.some((b) => b.name === w));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${benches.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  platform: `${platform()}-${arch()}`,
  cpu: cpus()[0]?.model ?? 'unknown',
  cpus: cpus().length,
  results: {},
};
const results = report.results as Record<string, unknown>;
let failed = false;
for (const bench of benches.filter((b) => (wanted.length === 0 ? !b.optIn : wanted.includes(b.name)))) {
  const started = performance.now();
  console.error(`bench ${bench.name}...`);
  try {
    results[bench.name] = { ...(await bench.run(flags)), wallMs: Math.round(performance.now() - started) };
  } catch (err) {
    failed = true;
    results[bench.name] = { error: err instanceof Error ? err.message : String(err) };
  }
  console.error(`bench ${bench.name}: ${JSON.stringify(results[bench.name])}`);
}

const path = fileURLToPath(new URL('./report.json', import.meta.url));
await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
console.error(`wrote ${path}`);
process.exitCode = failed ? 1 : 0;
