// Stage-weighted job progress and ETA. Overall progress is the finished stages' weights plus
// the current stage's fraction of its weight, held below 1 until the job has succeeded (the
// render exists). ETA: the current stage's remaining units at its measured rate, plus the
// stages not started yet at the seconds-per-weight measured so far in this attempt. Units an
// earlier attempt did (a resumed edit) count towards progress but not towards the rates.
import { STAGES, type JobProgress, type Stage, type StageProgress } from '../../shared/jobs.ts';

/** Share of a typical job's time per stage (CPU/GPU edit dominates). */
export const STAGE_WEIGHTS: Readonly<Record<Stage, number>> = {
  probe: 0.01,
  extract: 0.04,
  invert: 0.3,
  edit: 0.48,
  decode: 0.05,
  encode: 0.12,
};

/**
 * The highest overall progress a job shows before it has succeeded (its render exists): low
 * enough that no display rounding to two decimals or to a whole percent shows 1.00 or 100 %
 * while the encoder's output is still being checked and moved into place.
 */
export const MAX_UNFINISHED = 0.99;

export class ProgressTracker {
  private readonly completed = new Set<Stage>();
  private current: { stage: Stage; started: number; done: number; total: number; doneBefore: number } | null = null;
  /** Seconds and weight measured in this attempt (resumed stages were not timed here). */
  private measuredSeconds = 0;
  private measuredWeight = 0;

  constructor(
    completedStages: Iterable<Stage> = [],
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const s of completedStages) this.completed.add(s);
  }

  start(stage: Stage): JobProgress {
    this.current = { stage, started: this.now(), done: 0, total: 0, doneBefore: 0 };
    return this.snapshot();
  }

  /** The units an earlier attempt did (`doneBefore`) count towards progress, not towards the rates. */
  update({ stage, done, total, doneBefore = 0 }: StageProgress): JobProgress {
    if (this.current?.stage !== stage) this.start(stage);
    const cur = this.current!;
    cur.total = Math.max(0, total);
    cur.done = Math.min(Math.max(0, done), cur.total);
    cur.doneBefore = Math.min(Math.max(0, doneBefore), cur.done);
    return this.snapshot();
  }

  /** Marks the current stage done; returns its seconds. */
  finish(stage: Stage): number {
    let seconds = 0;
    if (this.current?.stage === stage) {
      seconds = (this.now() - this.current.started) / 1000;
      this.measuredSeconds += seconds;
      this.measuredWeight += STAGE_WEIGHTS[stage];
      this.current = null;
    }
    this.completed.add(stage);
    return seconds;
  }

  /** A stage whose work was already done by an earlier attempt. */
  skip(stage: Stage): void {
    this.completed.add(stage);
  }

  snapshot(): JobProgress {
    const cur = this.current;
    const fraction = cur && cur.total > 0 ? cur.done / cur.total : 0;
    let overall = 0;
    for (const s of this.completed) overall += STAGE_WEIGHTS[s];
    if (cur) overall += STAGE_WEIGHTS[cur.stage] * fraction;
    return {
      overall: Math.min(MAX_UNFINISHED, overall),
      stage_done: cur?.done ?? 0,
      stage_total: cur?.total ?? 0,
      eta_s: this.eta(),
    };
  }

  private eta(): number | null {
    const cur = this.current;
    const doneHere = cur ? cur.done - cur.doneBefore : 0;
    if (!cur || doneHere <= 0 || cur.total <= 0) return null;
    const elapsed = (this.now() - cur.started) / 1000;
    if (elapsed <= 0) return null;
    const rate = doneHere / elapsed; // units per second in this stage, this attempt
    const currentLeft = (cur.total - cur.done) / rate;
    const weightSoFar = this.measuredWeight + STAGE_WEIGHTS[cur.stage] * (doneHere / cur.total);
    const secondsPerWeight = (this.measuredSeconds + elapsed) / weightSoFar;
    let futureWeight = 0;
    for (const s of STAGES) {
      if (s !== cur.stage && !this.completed.has(s)) futureWeight += STAGE_WEIGHTS[s];
    }
    return currentLeft + futureWeight * secondsPerWeight;
  }
}
