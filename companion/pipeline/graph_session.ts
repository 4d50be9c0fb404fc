// Sessions for the pipeline's components, through the on-disk graph cache when one is
// configured: the key covers the component's config, its weights' identity, the mode, the
// graph's dtype, the provider it was built for and the graph-building code, so a hit is
// always the graph a build would make. Each provider tried gets the graph precision
// session.ts assigns it (float16 on GPUs, float32 on the CPU); a graph is built at most once
// per dtype and load.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openComponentWeights } from '../models/folder.ts';
import type { Graph, GraphDType } from '../runtime/graph.ts';
import { GraphCache, type CachedGraph } from '../runtime/graph_cache.ts';
import { createPolicySession, type LoadedSession, type PolicySessionOptions, type Provider } from '../runtime/session.ts';

export interface GraphSource<M> {
  modelDir: string;
  /** Folder of the component in the diffusers layout ('unet', 'vae', 'text_encoder'). */
  folder: string;
  /** Graph name, e.g. 'vae_decoder'. */
  component: string;
  /** Variant of the graph (plain, tokenflow, tokenflow-debug, ...). */
  mode: string;
  conversionCacheDir?: string;
  build(dtype: GraphDType): { graph: Graph; meta?: M };
}

export async function loadGraphSession<M = undefined>(
  source: GraphSource<M>, options: PolicySessionOptions & { graphCacheDir?: string },
): Promise<{ loaded: LoadedSession; meta: M; cacheHit: boolean }> {
  const graphs = new Map<GraphDType, CachedGraph>();
  const graphFor = (dtype: GraphDType, provider: Provider): CachedGraph => {
    let built = graphs.get(dtype);
    if (!built) {
      built = buildOrFetch(source, dtype, provider, options);
      graphs.set(dtype, built);
    }
    return built;
  };
  const loaded = await createPolicySession(source.component, graphFor, options);
  const built = graphs.get(loaded.dtype!)!;
  return { loaded, meta: built.meta as M, cacheHit: built.hit };
}

function buildOrFetch<M>(source: GraphSource<M>, dtype: GraphDType, provider: Provider, options: PolicySessionOptions & { graphCacheDir?: string }): CachedGraph {
  const build = () => {
    const { graph, meta } = source.build(dtype);
    return { bytes: graph.toBytes(), weightsFolder: graph.weightsFolder, meta };
  };
  if (!options.graphCacheDir) return { ...build(), hit: false };
  const built = new GraphCache(options.graphCacheDir).get({
    component: source.component,
    mode: source.mode,
    config: JSON.parse(readFileSync(path.join(source.modelDir, source.folder, 'config.json'), 'utf8')),
    dtype,
    weights: openComponentWeights(source.modelDir, source.folder, source.conversionCacheDir, dtype).fingerprint(),
    provider,
  }, build);
  if (built.hit) options.log?.(`${source.component}: graph loaded from the cache`);
  return built;
}
