// What happens to the jobs a stopped daemon left behind. A job that was running is put back
// in the queue to resume from its last completed stage, unless the daemon has already died
// under it `maxAttempts` times: then it is `interrupted` with the reason, never retried
// forever (a job that crashes the daemon must not crash it on every start). A studio farm's
// daemon only follows its jobs, which run on workers: its stops say nothing about the job, so
// they are not counted, and the job is followed again (the queue keeps its own attempt cap).
// Work folders no queued job will use again are removed.
import fs from 'node:fs';
import path from 'node:path';
import type { LogLevel } from '../../shared/events.ts';
import type { JobRecord, Stage } from '../../shared/jobs.ts';
import type { JobMeta, JobStore, StoredJob } from './job_store.ts';

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

/** What recordRecoveries needs of the job service. */
export interface RecoveryHost {
  store: Pick<JobStore, 'all' | 'put'>;
  maxAttempts: number;
  /** The daemon hands its jobs to a farm and follows them (serve --queue). */
  followsOnly: boolean;
  log(level: LogLevel, message: string): void;
  /** A failed write of the job log, as what the start-up throws (507 disk_full on a full disk). */
  storageError(err: unknown, what: string): unknown;
  /** Removes what a job's attempt was writing into the output folder. */
  removeLeftovers(job: JobRecord): void;
}

/**
 * At start-up: records the new state of each job the stopped daemon left running (recoverRunningJobs),
 * says so in the daemon log, and removes what its last attempt was writing (an encode's `.partial`
 * file is of no use to anyone).
 */
export async function recordRecoveries(host: RecoveryHost, now = new Date().toISOString()): Promise<void> {
  for (const r of recoverRunningJobs(host.store.all(), host.maxAttempts, now, host.followsOnly)) {
    await host.store.put(r.job, r.meta).catch((err: unknown) => {
      throw host.storageError(err, `could not record job ${r.job.id}'s recovery`);
    });
    host.log(r.job.state === 'interrupted' ? 'warn' : 'info', `job ${r.job.id}: ${r.note}`);
    host.removeLeftovers(r.job);
  }
}

/** Removes every folder in `workDir` but the queued jobs' (finished or deleted jobs', e.g. the daemon died while cleaning up). */
export function removeOrphanWorkDirs(workDir: string, queued: readonly string[]): void {
  const keep = new Set(queued);
  for (const name of fs.readdirSync(workDir)) {
    if (!keep.has(name)) fs.rmSync(path.join(workDir, name), { recursive: true, force: true });
  }
}
