// Where ONNX Runtime places the nodes of every component graph the pipeline runs, on one
// provider: the sessions are created in a child process (placement_child.ts) with ORT's
// verbose log on, and its stderr is read (placement_log.ts). A child, because ORT writes the
// log to the process's own stderr and reads the log level once, when it initialises.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processEnv } from '../config.ts';
import { childNodeArgs } from '../layout.ts';
import type { GraphDType } from '../runtime/graph.ts';
import '../runtime/ort_platform.ts'; // where ORT has no build, fail here with the reason, not in the child
import { parsePlacementLog } from '../runtime/placement_log.ts';
import type { Provider } from '../runtime/providers.ts';
import type { ChildComponentResult } from './placement_child.ts';

export interface ComponentPlacement {
  name: string;
  /** The provider the session was created for. */
  provider: Provider;
  precision: GraphDType;
  /** Nodes (If branches included) per ORT execution provider. */
  by_provider: Record<string, number>;
  /** Op types of the nodes on the CPU, with counts. */
  cpu_ops: Record<string, number>;
  /** Why the session could not be created (the other fields are then empty). */
  error?: string;
}

export interface PlacementReport {
  components: ComponentPlacement[];
}

export interface PlacementRequest {
  modelDir: string;
  /** Default: the first provider of the product's order that loads. */
  provider?: Provider;
  /** Default: the product's precision for the provider. */
  precision?: GraphDType;
  env?: NodeJS.ProcessEnv;
  /** Stops the child after this long (default: no limit). */
  timeoutMs?: number;
}

/**
 * Ops that carry the FLOPs or the bulk of the memory traffic: on a GPU provider none of them
 * belongs on the CPU (convolutions, matrix products, attention, softmax, normalisations,
 * resizes, Gelu variants).
 */
export function isHeavyOp(op: string): boolean {
  return /^(Conv|ConvTranspose|MatMul|Gemm|FusedMatMul|MultiHeadAttention|Attention|Softmax|Resize|Einsum)$/.test(op) ||
    /Norm/.test(op) || /Gelu/.test(op);
}

/** The heavy ops a component left on the CPU, with counts. */
export function heavyCpuOps(c: ComponentPlacement): Record<string, number> {
  return Object.fromEntries(Object.entries(c.cpu_ops).filter(([op]) => isHeavyOp(op)));
}

export async function placementReport(request: PlacementRequest): Promise<PlacementReport> {
  const args = [...childNodeArgs('placement_child'), request.modelDir, request.provider ?? 'default', request.precision ?? 'default'];
  const { code, stopped, stdout, stderr } = await runChild(args, request.env ?? processEnv(), request.timeoutMs);
  const results = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ChildComponentResult);
  if (code !== 0) {
    const done = results.length ? ` (done: ${results.map((r) => r.name).join(', ')})` : '';
    const why = stopped ? `was stopped after ${Math.round(request.timeoutMs! / 1000)} s` : `stopped (exit ${code}): ${lastLine(stderr)}`;
    throw new Error(`the placement child${done} ${why}`);
  }
  const sections = parsePlacementLog(stderr);
  return {
    components: results.map((r) => {
      const p = sections.get(r.name);
      const base = { name: r.name, provider: r.provider, precision: r.precision };
      if (r.error || !p || Object.keys(p.byProvider).length === 0) {
        return { ...base, by_provider: {}, cpu_ops: {}, error: r.error ?? 'ORT logged no placement for it' };
      }
      return { ...base, by_provider: p.byProvider, cpu_ops: p.cpuOps };
    }),
  };
}

/**
 * Runs the child with its stderr in a file: node makes a piped stderr non-blocking, and ORT's
 * C++ stream stops writing for good at the first full pipe, which loses the rest of the log.
 */
async function runChild(args: string[], env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<{ code: number; stopped: boolean; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenflow-placement-'));
  const logFile = join(dir, 'stderr.log');
  const fd = openSync(logFile, 'w');
  try {
    const { code, stopped, stdout } = await new Promise<{ code: number; stopped: boolean; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', fd], ...(timeoutMs ? { timeout: timeoutMs } : {}) });
      const out: Buffer[] = [];
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.on('error', reject);
      child.on('close', (c, signal) => resolve({ code: c ?? 1, stopped: signal !== null, stdout: Buffer.concat(out).toString('utf8') }));
    });
    return { code, stopped, stdout, stderr: readFileSync(logFile, 'utf8') };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The last line of a child's stderr that is not ORT's own log (its error message). */
function lastLine(stderr: string): string {
  return stderr.split('\n').filter((l) => l.trim() && !/\[[VIWE]:onnxruntime/.test(l)).at(-1) ?? '(no message)';
}
