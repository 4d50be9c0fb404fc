// `tokenflow edit`'s progress on stderr: a bar per stage with its step and ETA, and the log
// lines between its redraws.
import type { Stage } from '../../shared/jobs.ts';

export interface ProgressSink {
  update(stage: Stage, done: number, total: number, eta: number | null, detail: string): void;
  line(text: string): void;
  done(): void;
}

/** A one-line bar redrawn in place on a terminal; a line per 10 % of a stage otherwise. */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  const tty = Boolean(stream.isTTY);
  let last = '';
  let lastDecile = new Map<string, number>();
  let drawn = false;
  return {
    update(stage, done, total, eta, detail) {
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const width = 24;
      const filled = Math.round(fraction * width);
      const text = `${stage.padEnd(7)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%` +
        `${detail ? `  ${detail}` : ''}${eta !== null ? `  ETA ${formatDuration(eta)}` : ''}`;
      if (tty) {
        if (text === last) return;
        stream.write(`\r${text.padEnd(last.length)}`);
        last = text;
        drawn = true;
      } else {
        const decile = Math.floor(fraction * 10);
        if (lastDecile.get(stage) === decile) return;
        lastDecile.set(stage, decile);
        stream.write(`${text}\n`);
      }
    },
    line(text) {
      if (tty && drawn) stream.write(`\r${' '.repeat(last.length)}\r`);
      stream.write(`${text}\n`);
      if (tty && drawn) stream.write(last);
    },
    done() {
      if (tty && drawn) stream.write('\n');
      drawn = false;
      last = '';
      lastDecile = new Map();
    },
  };
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
