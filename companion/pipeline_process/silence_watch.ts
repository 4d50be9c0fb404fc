// How long a pipeline process's parent has been silent, counted only over the time this
// process was free to hear it. Its parent sends a `beat` well within the limit while a run
// goes on (host.ts); a frozen parent (SIGSTOP, a stalled machine) or one whose event loop is
// blocked sends none, and a studio farm worker in that state loses its job's lock to another
// worker, which then writes the same work folder. A model call blocks this process's own
// event loop for seconds at a time, and the beats sent meanwhile wait unread in the channel:
// such a gap is not counted as silence beyond one tick, or every long model call would look
// like a silent parent.

export class SilenceWatch {
  /** Silence heard so far: time since the last beat during which this process was listening. */
  private silentMs = 0;
  private lastTick: number;
  /** Ticks come this often; a later one means this process's event loop was busy. */
  readonly tickMs: number;

  constructor(
    readonly limitMs: number,
    now: number,
  ) {
    this.tickMs = Math.max(1, Math.floor(limitMs / 8));
    this.lastTick = now;
  }

  /** The parent spoke. */
  heard(): void {
    this.silentMs = 0;
  }

  /** A timer tick at `now`; true once the silence has reached the limit. */
  tick(now: number): boolean {
    // A late tick: the loop was blocked, and the beats of that time are about to be read.
    this.silentMs += Math.min(now - this.lastTick, 2 * this.tickMs);
    this.lastTick = now;
    return this.silentMs >= this.limitMs;
  }
}
