// Shared helpers for the job tests: temp folders, sample requests, waiting for events.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobRecord, JobRequestInput } from '../../shared/jobs.ts';
import { JobRequest } from '../../shared/jobs.ts';
import { resolveJobSettings } from '../../shared/presets.ts';
import { newJobRecord } from '../../companion/jobs/submission.ts';

export function tempDir(t: { after(fn: () => void): void }, prefix = 'tf-jobs-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A request as the server hands it on: parsed. */
export function sampleRequest(source: string, extra: Partial<JobRequestInput> = {}): JobRequest {
  return JobRequest.parse({ source_path: source, range: { start_ticks: '0', end_ticks: '101606400000' }, prompt: 'a red fox', ...extra });
}

let counter = 0;
/** A syntactically complete job record (for store tests). */
export function sampleRecord(extra: Partial<JobRecord> = {}): JobRecord {
  const request = JobRequest.parse(sampleRequest('/media/clip.mov'));
  const n = (counter++).toString(16).padStart(12, '0');
  return { ...newJobRecord(request, resolveJobSettings(request, undefined)), id: `00000000-0000-4000-8000-${n}`, ...extra };
}

/** Resolves when `predicate` is true, polling; rejects after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface ReleaseGate {
  /** Resolves once opened: for the fake media's `hold`. */
  promise: Promise<void>;
  /** Exists once opened: for the test pipeline's `release` (it runs in another process). */
  file: string;
  open(): void;
}

/**
 * A gate only the test opens (a held stage waits for it). Opened at the latest when the test
 * ends, so a failed test does not hang its service's close: create it before the service
 * (after-hooks run in the order they were added).
 */
export function releaseGate(t: { after(fn: () => void): void }): ReleaseGate {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-gate-'));
  const file = path.join(dir, 'open');
  const open = () => {
    resolve();
    fs.writeFileSync(file, '');
  };
  t.after(() => {
    open();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { promise, file, open };
}
