// Reads ONNX Runtime's verbose log (what a session creation writes to stderr when
// `ort.env.logLevel` is 'verbose') for where the nodes of each session were placed.
// Per session ORT writes `Node(s) placed on [EP]. Number of nodes: N` followed by one
// `OpType (node name)` line per node (If-branch nodes included), or `All nodes placed on [EP].
// Number of nodes: N` (no node lines) when one provider took everything.
// A log may hold several sessions: `markSection` lines written between them split it.

export interface Placement {
  /** Nodes per execution provider (ORT's names, e.g. WebGpuExecutionProvider). */
  byProvider: Record<string, number>;
  /** Op types of the nodes placed on the CPU, with their counts. */
  cpuOps: Record<string, number>;
}

const CPU_EP = 'CPUExecutionProvider';
const SECTION = '@@tokenflow-placement ';
const PLACED = /VerifyEachNodeIsAssignedToAnEp\]\s+(?:Node\(s\)|All nodes) placed on \[(\w+)\]\. Number of nodes: (\d+)/;
const NODE = /VerifyEachNodeIsAssignedToAnEp\]\s+(\S+) \((.*)\)\s*$/;

/** The line that starts the section of one session (the name is any text without a newline). */
export function markSection(name: string): string {
  return `${SECTION}${name}\n`;
}

/** Placement per section, in log order; text before the first mark is ignored. */
export function parsePlacementLog(log: string): Map<string, Placement> {
  const sections = new Map<string, Placement>();
  let lines: string[] | undefined;
  const flush = (name: string | undefined) => { if (name !== undefined && lines) sections.set(name, parseSection(lines)); };
  let name: string | undefined;
  for (const line of log.split('\n')) {
    const at = line.indexOf(SECTION);
    if (at >= 0) {
      flush(name);
      name = line.slice(at + SECTION.length).trim();
      lines = [];
    } else lines?.push(line);
  }
  flush(name);
  return sections;
}

function parseSection(lines: string[]): Placement {
  const byProvider: Record<string, number> = {};
  const cpuOps: Record<string, number> = {};
  let provider: string | undefined; // the provider whose node lines follow
  for (const line of lines) {
    const placed = PLACED.exec(line);
    if (placed) {
      byProvider[placed[1]!] = (byProvider[placed[1]!] ?? 0) + Number(placed[2]);
      provider = line.includes('All nodes placed') ? undefined : placed[1];
      continue;
    }
    const node = NODE.exec(line);
    if (node && provider === CPU_EP) cpuOps[node[1]!] = (cpuOps[node[1]!] ?? 0) + 1;
  }
  return { byProvider, cpuOps };
}
