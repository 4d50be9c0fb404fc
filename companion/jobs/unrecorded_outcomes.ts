// Outcomes of stopped jobs that the job log could not take yet (full disk): each keeps the
// record the log has, and its outcome is tried again every few seconds (and on cancel).
import type { LogLevel } from '../../shared/events.ts';

/** How often the outcome of a job that could not be recorded (full disk) is tried again. */
export const UNRECORDED_RETRY_MS = 5_000;

export class UnrecordedOutcomes {
  private readonly pending = new Map<string, () => Promise<void>>();
  /** Each job's outcome write under way (the last asked for). */
  private readonly writing = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logSink: (level: LogLevel, message: string) => void,
    /** Called once none is left unrecorded (the queue moves again). */
    private readonly allRecorded: () => void,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** Keeps `record` (the job's outcome) to be tried again until it succeeds. */
  add(id: string, record: () => Promise<void>): void {
    this.pending.set(id, record);
    this.timer ??= setInterval(() => void this.retry(), UNRECORDED_RETRY_MS).unref();
  }

  /**
   * Records a stopped job's outcome now. One write at a time per job: a cancel that comes while
   * the retry timer's write is under way waits for it, and writes again only if that failed
   * (the disk may have room by now), never a second record of the same outcome.
   */
  async record(id: string): Promise<void> {
    const before = this.writing.get(id);
    const mine = (async () => {
      await before?.catch(() => {});
      await this.write(id);
    })();
    this.writing.set(id, mine);
    try {
      await mine;
    } finally {
      if (this.writing.get(id) === mine) this.writing.delete(id);
    }
  }

  private async write(id: string): Promise<void> {
    const outcome = this.pending.get(id);
    if (outcome === undefined) return;
    await outcome();
    this.pending.delete(id);
    this.logSink('info', `job ${id}: outcome recorded`);
    if (this.pending.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.allRecorded();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async retry(): Promise<void> {
    for (const id of this.pending.keys()) {
      try {
        await this.record(id);
      } catch {
        return;
      }
    }
  }
}
