// At most one preview per interval for a job; a preview arriving too soon replaces the
// pending one, which is sent when the interval has passed (so the newest always arrives).
export class PreviewThrottle<T> {
  private last = -Infinity;
  private pending: T | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly emit: (item: T) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(item: T): void {
    const wait = this.last + this.intervalMs - this.now();
    if (wait <= 0 && this.timer === null) {
      this.send(item);
      return;
    }
    this.pending = item;
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, wait));
  }

  /** Sends the pending item now (e.g. before the job's final state). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const item = this.pending;
    this.pending = null;
    if (item !== null) this.send(item);
  }

  private send(item: T): void {
    this.last = this.now();
    this.emit(item);
  }
}
