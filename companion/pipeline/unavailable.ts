// The product's pipeline module until the TokenFlow pipeline is built (issue 4): every run
// fails with a clear, coded error instead of producing anything.
import { PipelineError, type Pipeline } from './interface.ts';

export const MODEL_RUNTIME_UNAVAILABLE = 'model runtime not available: the TokenFlow pipeline is not built yet';

export function createPipeline(): Pipeline {
  return {
    async run() {
      throw new PipelineError('model_runtime_unavailable', MODEL_RUNTIME_UNAVAILABLE);
    },
  };
}
