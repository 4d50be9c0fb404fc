// What a submission goes through before its job is queued: the idempotency key (replay or
// conflict), the preset, the resolved settings (model included) and the source check.
import { randomUUID } from 'node:crypto';
import type { JobRecord, JobRequest, JobSettings } from '../../shared/jobs.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import { MediaError } from '../media/errors.ts';
import { parseRange } from '../media/range.ts';
import type { MediaInfo } from '../media/types.ts';
import type { SubmitResult } from './api.ts';
import { JobServiceError } from './errors.ts';
import type { JobStore } from './job_store.ts';
import type { PresetStore } from './presets_store.ts';

export interface SubmissionOptions {
  store: JobStore;
  presets: PresetStore;
  defaultModel: string | undefined;
  checkSettings: ((settings: JobSettings) => Promise<void>) | undefined;
  /** Probes the source when set (JobServiceOptions.probeOnSubmit). */
  probe: ((file: string) => Promise<MediaInfo>) | undefined;
  /** A failed write of the job log, as what the caller answers. */
  storageError: (err: unknown, what: string) => unknown;
}

export class Submission {
  constructor(private readonly options: SubmissionOptions) {}

  /**
   * The answer to a request whose idempotency key an earlier submission used, once that job's
   * record is on the disk (it may still be on its way); null when there is none. Throws a
   * conflict if the body differs.
   */
  replayEarlier(request: JobRequest, fingerprint: string | null): Promise<SubmitResult> | null {
    const earlier = this.earlierSubmission(request, fingerprint);
    return earlier ? this.replay(earlier) : null;
  }

  /** The request's settings, resolved with its preset and the default model, and checked. */
  async settings(request: JobRequest): Promise<JobSettings> {
    let preset;
    if (request.preset !== undefined) {
      preset = this.options.presets.get(request.preset);
      if (!preset) throw new JobServiceError('bad_request', `no preset named "${request.preset}"`, { field: 'preset' });
    }
    const settings = resolveJobSettings(request, preset, this.options.defaultModel);
    await this.options.checkSettings?.(settings);
    if (this.options.probe) await this.checkSource(this.options.probe, request.source_path, settings);
    return settings;
  }

  private earlierSubmission(request: JobRequest, fingerprint: string | null): JobRecord | null {
    if (request.idempotency_key === undefined) return null;
    const existing = this.options.store.getByIdempotencyKey(request.idempotency_key);
    if (!existing) return null;
    if (existing.meta.fingerprint !== fingerprint) {
      throw new JobServiceError(
        'idempotency_conflict',
        `idempotency_key "${request.idempotency_key}" was already used for a different request (job ${existing.job.id})`,
        { field: 'idempotency_key' },
      );
    }
    return existing.job;
  }

  private async replay(job: JobRecord): Promise<SubmitResult> {
    await this.options.store.pendingCommit(job.id)?.catch((err: unknown) => {
      throw this.options.storageError(err, 'the job was not created');
    });
    return { job: this.options.store.get(job.id)?.job ?? job, created: false };
  }

  /** The source must be a readable video and the range must lie inside it (the runner's own rule). */
  private async checkSource(probe: (file: string) => Promise<MediaInfo>, sourcePath: string, settings: JobSettings): Promise<void> {
    try {
      const info = await probe(sourcePath);
      parseRange(info, settings.start_ticks, settings.end_ticks);
    } catch (err) {
      if (err instanceof MediaError) {
        throw new JobServiceError('media_invalid', err.message, { field: err.code === 'range' ? 'range' : 'source_path', cause: err });
      }
      throw err;
    }
  }
}

/** A new job's record, queued and not started. */
export function newJobRecord(request: JobRequest, settings: JobSettings): JobRecord {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    created_at: now,
    updated_at: now,
    request,
    settings,
    state: 'queued',
    stage: null,
    progress: { overall: 0, stage_done: 0, stage_total: 0, eta_s: null },
    timings: {},
    attempts: 0,
    result: null,
    error: null,
  };
}
