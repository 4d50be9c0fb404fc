// `tokenflow jobs list|show|cancel`: the running daemon's jobs, over its REST API.
import type { JobRecord } from '../../shared/jobs.ts';
import { ticksToSeconds } from '../../shared/ticks.ts';
import { DaemonError } from '../../shared/daemon_client.ts';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { localDaemonClient } from './local_daemon.ts';

const help = `Usage: tokenflow jobs <list | show ID | cancel ID> [options]

Lists, shows and cancels the jobs of the running daemon (\`tokenflow serve\`).

Sub-commands:
  list         every job, oldest first (with a WORKER column when a farm ran them)
  show ID      one job in detail
  cancel ID    cancel a queued or running job

Options:
  --json       print the daemon's JSON instead of text
  --url URL    the daemon's address (default: TOKENFLOW_URL, else the running daemon of
               this configuration, else http://127.0.0.1 at TOKENFLOW_PORT or 43117)
  -h, --help   this help`;

export const command: Command = {
  help,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, { json: { type: 'boolean' }, url: { type: 'string' } }, 2);
    const [sub, id] = positionals;
    if (sub === undefined) throw new UsageError('missing sub-command: list, show or cancel');
    const needsId = sub === 'show' || sub === 'cancel';
    if (sub !== 'list' && !needsId) throw new UsageError(`unknown sub-command "${sub}" (list, show or cancel)`);
    if (needsId && id === undefined) throw new UsageError(`jobs ${sub} needs a job ID (see \`tokenflow jobs list\`)`);
    if (!needsId && id !== undefined) throw new UsageError(`unexpected argument "${id}"`);

    const client = await localDaemonClient(values.url);
    try {
      if (sub === 'list') {
        const jobs = await client.listJobs();
        console.log(values.json ? JSON.stringify({ jobs }, null, 2) : formatList(jobs));
      } else if (sub === 'show') {
        const job = await client.getJob(id!);
        console.log(values.json ? JSON.stringify(job, null, 2) : formatJob(job));
      } else {
        const job = await client.cancel(id!);
        console.log(values.json ? JSON.stringify(job, null, 2) : `job ${job.id}: ${job.state}`);
      }
    } catch (err) {
      // The daemon's refusals get their status and code; when nothing answered, or not in
      // this API, the message alone says so.
      if (err instanceof DaemonError && !err.unreachable && !err.protocolMismatch) {
        console.error(`tokenflow jobs ${sub}: ${err.message} (HTTP ${err.status}, ${err.code})`);
        return 1;
      }
      throw err;
    }
    return 0;
  },
};

function formatList(jobs: JobRecord[]): string {
  if (jobs.length === 0) return 'no jobs';
  // A studio farm daemon's jobs ran on workers: a WORKER column says which (- for none yet).
  const farm = jobs.some((j) => j.worker !== undefined);
  const rows = jobs.map((j) => [
    j.id, j.state, j.stage ?? '-', percent(j), ...(farm ? [j.worker ?? '-'] : []), j.created_at.replace(/\.\d+Z$/, 'Z'), modelName(j), clip(j.request.prompt, 40),
  ]);
  const header = ['ID', 'STATE', 'STAGE', 'DONE', ...(farm ? ['WORKER'] : []), 'CREATED', 'MODEL', 'PROMPT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

function formatJob(job: JobRecord): string {
  const { settings, request } = job;
  const start = ticksToSeconds(BigInt(settings.start_ticks));
  const end = ticksToSeconds(BigInt(settings.end_ticks));
  // Only a running job has time left (a finished one's record keeps its last estimate, 0).
  const eta = job.state !== 'running' || job.progress.eta_s === null ? '' : `, about ${Math.ceil(job.progress.eta_s)} s left`;
  const lines: Array<[string, string]> = [
    ['id', job.id],
    ['state', `${job.state}${job.stage ? ` (stage ${job.stage}, ${percent(job)}${eta})` : ''}`],
    ['created', job.created_at],
    ['updated', job.updated_at],
    ['source', `${request.source_path} [${start.toFixed(3)} s – ${end.toFixed(3)} s]`],
    ['prompt', settings.prompt],
    ['preset', settings.preset ?? '-'],
    ['model', modelName(job)],
    ['attempts', String(job.attempts)],
  ];
  if (job.worker !== undefined) lines.push(['worker', job.worker]);
  if (job.result) {
    lines.push(['output', job.result.output_path ?? '(preview only)']);
    lines.push(['frames', `${job.result.frame_count} at ${job.result.width}x${job.result.height}, ${job.result.frame_rate} fps`]);
  }
  if (job.error) lines.push(['error', `${job.error.code}: ${job.error.message}`]);
  return lines.map(([k, v]) => `${k.padEnd(9)} ${v}`).join('\n');
}

/** Records written before jobs stored their model ran with the daemon's default. */
function modelName(job: JobRecord): string {
  return job.settings.model ?? '(daemon default)';
}

function percent(job: JobRecord): string {
  return `${Math.floor(job.progress.overall * 100)}%`;
}

function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
