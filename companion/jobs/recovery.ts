// What happens to the jobs a stopped daemon left behind. A job that was running is put back
// in the queue to resume from its last completed stage, unless the daemon has already died
// under it `maxAttempts` times: then it is `interrupted` with the reason, never retried
// forever (a job that crashes the daemon must not crash it on every start). A studio farm's
// daemon only follows its jobs, which run on workers: its stops say nothing about the job, so
// they are not counted, and the job is followed again (the queue keeps its own attempt cap).
import type { JobRecord, Stage } from '../../shared/jobs.ts';
import type { JobMeta, StoredJob } from './job_store.ts';

export interface RecoveredJob {
  job: JobRecord;
  meta: JobMeta;
  /** A line for the job's log. */
  note: string;
}

/**
 * The new records of the jobs that were running when the daemon stopped (others are unchanged).
 * `followsOnly`: the daemon hands its jobs to a farm and follows them (serve --queue).
 */
export function recoverRunningJobs(jobs: readonly StoredJob[], maxAttempts: number, now: string, followsOnly = false): RecoveredJob[] {
  const recovered: RecoveredJob[] = [];
  for (const { job, meta } of jobs) {
    if (job.state !== 'running') continue;
    if (followsOnly) {
      recovered.push({
        job: { ...job, state: 'queued', updated_at: now, progress: { ...job.progress, eta_s: null } },
        meta,
        note: 'the daemon stopped while following this job on the farm; following it again',
      });
      continue;
    }
    const crashStages = [...meta.crashStages, job.stage];
    const newMeta = { ...meta, crashStages };
    const where = job.stage ?? 'start-up';
    if (crashStages.length >= maxAttempts) {
      recovered.push({
        job: {
          ...job,
          state: 'interrupted',
          updated_at: now,
          progress: { ...job.progress, eta_s: null },
          error: { code: 'interrupted', message: interruptedMessage(crashStages) },
        },
        meta: newMeta,
        note: `not resumed: ${interruptedMessage(crashStages)}`,
      });
    } else {
      recovered.push({
        job: { ...job, state: 'queued', updated_at: now, progress: { ...job.progress, eta_s: null } },
        meta: newMeta,
        note: `the daemon stopped during ${where} (stop ${crashStages.length}; given up at ${maxAttempts}); queued to resume from the last completed stage`,
      });
    }
  }
  return recovered;
}

function interruptedMessage(stages: readonly (Stage | null)[]): string {
  const names = stages.map((s) => s ?? 'start-up');
  if (names.every((s) => s === names[0])) return `daemon stopped during ${names[0]} ${names.length} times`;
  return `daemon stopped ${names.length} times while this job ran (during ${names.join(', ')})`;
}
