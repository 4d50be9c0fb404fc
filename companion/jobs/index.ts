// companion/jobs: the durable job queue. The server and CLI use only what is exported here.
export type {
  DeleteOptions,
  JobServiceApi,
  JobServiceOptions,
  PresetsApi,
  SubmitResult,
  Unsubscribe,
} from './api.ts';
export { JobServiceError, type JobServiceErrorCode } from './errors.ts';
export { JobService } from './service.ts';
export type { MediaApi } from './media_api.ts';
