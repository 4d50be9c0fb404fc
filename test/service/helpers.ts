// A service spec with the awkward characters real paths have (spaces, quotes, %, $, &, <).
import type { ServiceSpec } from '../../companion/service/spec.ts';

export function awkwardSpec(dataDir = '/home/ed/My "Data" 100% $x & <y>'): ServiceSpec {
  return {
    command: ['/opt/tokenflow companion/runtime/node', '/opt/tokenflow companion/lib/tokenflow.mjs', 'serve'],
    logFile: `${dataDir}/service.log`,
    environment: { TOKENFLOW_PORT: '43200', TOKENFLOW_HOME: dataDir },
    workingDir: dataDir,
    home: '/home/ed',
    queuePassword: { file: `${dataDir}/queue-password`, value: undefined },
  };
}
