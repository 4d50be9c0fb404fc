// Which execution provider this machine can run, found once at daemon start with a one-node
// graph, so health and the start-up log tell the truth before any model has loaded. The
// pipeline's own sessions try the providers in the same order.
import { Graph } from './graph.ts';
import { createSession, type Provider } from './session.ts';

export interface ProviderProbe {
  provider: Provider;
  /** The log line naming the provider and why others were skipped. */
  line: string;
}

export async function probeProvider(providers?: Provider[]): Promise<ProviderProbe> {
  const g = new Graph('provider-probe');
  g.output(g.input('x', 'float32', [1]), 'y');
  let line = '';
  const { session, provider } = await createSession(g, { providers, log: (l) => (line = l) });
  await session.release();
  return { provider, line: line.replace(/^provider-probe: /, '') };
}
