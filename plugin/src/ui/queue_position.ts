// What a queued job's card says about its place in the queue. A daemon that runs its jobs
// itself starts a queued one when every job before it, running or queued, is out of the way.
// A studio farm daemon (`serve --queue`; its health lists `workers`) hands them to workers:
// its running jobs are on the workers, not ahead in the queue, and a queued job with nothing
// of this daemon's ahead still waits for a free worker (other editors' jobs share the queue).
import type { JobView } from '../app/model.ts';

/** The progress line of each queued job, by job id; `running`: how many of `views` run. */
export function queuedTexts(views: readonly JobView[], running: number, farm: boolean): Map<string, string> {
  const queued = views.filter((v) => v.record.state === 'queued').sort((a, b) => a.record.created_at.localeCompare(b.record.created_at));
  const texts = new Map<string, string>();
  for (const [i, view] of queued.entries()) {
    const ahead = i + (farm ? 0 : running);
    texts.set(view.record.id, ahead > 0 ? `Waiting in the queue (${ahead} ahead)` : farm ? 'Waiting in the queue' : 'Starting…');
  }
  return texts;
}
