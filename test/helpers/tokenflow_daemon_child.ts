// A job service with the real media layer and the real TokenFlow pipeline in a child process,
// for kill -9 tests of a TokenFlow job: it submits the job request given in argv and prints the
// job's events (job.state, job.progress, job.log) as JSON lines on stdout.
// Usage: node --import tsx tokenflow_daemon_child.ts <dataDir> <outputDir> '<request JSON>'
// (TOKENFLOW_CACHE_DIR from the environment, as for the daemon).
import { JobService } from '../../companion/jobs/service.ts';
import { JobRequest } from '../../shared/jobs.ts';

const [dataDir, outputDir, request] = process.argv.slice(2);
const service = new JobService({ dataDir: dataDir!, outputDir: outputDir! });
service.on('job.state', ({ job }) => process.stdout.write(`${JSON.stringify({ type: 'job.state', id: job.id, state: job.state, stage: job.stage })}\n`));
service.on('job.progress', (e) => process.stdout.write(`${JSON.stringify(e)}\n`));
service.on('job.log', (e) => process.stdout.write(`${JSON.stringify(e)}\n`));
await service.start();
await service.submit(JobRequest.parse(JSON.parse(request!)));
