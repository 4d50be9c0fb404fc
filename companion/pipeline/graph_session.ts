// Sessions for the pipeline's components, through the on-disk graph cache when one is
// configured: the key covers the component's config, its weights' identity, the mode, the
// graph's dtype, the provider it was built for and the graph-building code, so a hit is
// always the graph a build would make. Each provider tried gets the graph precision
// session.ts assigns it (float16 on GPUs, float32 on the CPU) and its own graph form
// (providers.ts: FusedMatMul or MatMul, fused or explicit attention); a graph is built at
// most once per dtype and provider variant and load.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WeightComponent } from '../models/diffusers_layout.ts';
import { openComponentWeights } from '../models/folder.ts';
import type { Graph, GraphDType } from '../runtime/graph.ts';
import { GraphCache, type CachedGraph } from '../runtime/graph_cache.ts';
import { graphVariant } from '../runtime/providers.ts';
import { createPolicySession, type LoadedSession, type PolicySessionOptions, type Provider } from '../runtime/session.ts';

export interface GraphSource<M> {
  modelDir: string;
  /** Folder of the component in the diffusers layout. */
  folder: WeightComponent;
  /** Graph name, e.g. 'vae_decoder'. */
  component: string;
  /** Variant of the graph (plain, tokenflow, tokenflow-debug, ...). */
  mode: string;
  conversionCacheDir?: string;
  /** Builds the graph in `dtype` in the form `provider` runs (the Graph's variant). */
  build(dtype: GraphDType, provider: Provider): { graph: Graph; meta?: M };
}

export async function loadGraphSession<M = undefined>(
  source: GraphSource<M>, options: PolicySessionOptions & { graphCacheDir?: string },
): Promise<{ loaded: LoadedSession; meta: M; cacheHit: boolean }> {
  const graphs = new Map<string, CachedGraph>();
  const keyOf = (dtype: GraphDType, provider: Provider) => `${dtype}/${graphVariant(provider).name}`;
  const graphFor = (dtype: GraphDType, provider: Provider): CachedGraph => {
    let built = graphs.get(keyOf(dtype, provider));
    if (!built) {
      built = buildOrFetch(source, dtype, provider, options);
      graphs.set(keyOf(dtype, provider), built);
    }
    return built;
  };
  const loaded = await createPolicySession(source.component, graphFor, options);
  const built = graphs.get(keyOf(loaded.dtype!, loaded.provider))!;
  return { loaded, meta: built.meta as M, cacheHit: built.hit };
}

function buildOrFetch<M>(source: GraphSource<M>, dtype: GraphDType, provider: Provider, options: PolicySessionOptions & { graphCacheDir?: string }): CachedGraph {
  const build = () => {
    const { graph, meta } = source.build(dtype, provider);
    return { bytes: graph.toBytes(), weightsFolder: graph.weightsFolder, meta };
  };
  if (!options.graphCacheDir) return { ...build(), hit: false };
  const built = new GraphCache(options.graphCacheDir).get({
    component: source.component,
    mode: source.mode,
    config: JSON.parse(readFileSync(path.join(source.modelDir, source.folder, 'config.json'), 'utf8')),
    dtype,
    weights: openComponentWeights(source.modelDir, source.folder, source.conversionCacheDir, dtype).fingerprint(),
    provider: graphVariant(provider).name,
  }, build);
  if (built.hit) options.log?.(`${source.component}: graph loaded from the cache`);
  return built;
}
