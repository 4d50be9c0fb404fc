// A job service in a child process, for the kill -9 tests: resumes whatever is queued in
// <dataDir>, optionally submits one job, and prints every job.state event as a JSON line.
// Usage: node --import tsx daemon_child.ts <dataDir> <outputDir> <source> [submit]
import { JobService } from '../../../companion/jobs/service.ts';
import { JobRequest } from '../../../shared/jobs.ts';
import { fakeMedia } from './fake_media.ts';

const [dataDir, outputDir, source, submit] = process.argv.slice(2);
const service = new JobService({
  dataDir,
  outputDir,
  media: fakeMedia({ delayMs: 20 }),
  pipelineModule: new URL('./invert_pipeline.ts?delay=50&steps=10', import.meta.url),
});
service.on('job.state', ({ job }) => process.stdout.write(`${JSON.stringify({ id: job.id, state: job.state, stage: job.stage, attempts: job.attempts })}\n`));
await service.start();
if (submit === 'submit') {
  await service.submit(JobRequest.parse({ source_path: source, range: { start_ticks: '0', end_ticks: '101606400000' }, prompt: 'a red fox' }));
}
