// Sessions for the pipeline's components, through the on-disk graph cache when one is
// configured: the key covers the component's config, its weights' identity, the mode, the
// providers tried and the graph-building code, so a hit is always the graph a build would make.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { openComponentWeights } from '../models/folder.ts';
import type { Graph } from '../runtime/graph.ts';
import { GraphCache } from '../runtime/graph_cache.ts';
import { createSessionFromBytes, defaultProviders, type LoadedSession, type SessionOptions } from '../runtime/session.ts';

export interface GraphSource<M> {
  modelDir: string;
  /** Folder of the component in the diffusers layout ('unet', 'vae', 'text_encoder'). */
  folder: string;
  /** Graph name, e.g. 'vae_decoder'. */
  component: string;
  /** Variant of the graph (plain, tokenflow, tokenflow-debug, ...). */
  mode: string;
  conversionCacheDir?: string;
  build(): { graph: Graph; meta?: M };
}

export async function loadGraphSession<M = undefined>(
  source: GraphSource<M>, options: SessionOptions & { graphCacheDir?: string },
): Promise<{ loaded: LoadedSession; meta: M; cacheHit: boolean }> {
  const build = () => {
    const { graph, meta } = source.build();
    return { bytes: graph.toBytes(), weightsFolder: graph.weightsFolder, meta };
  };
  let built;
  if (options.graphCacheDir) {
    built = new GraphCache(options.graphCacheDir).get({
      component: source.component,
      mode: source.mode,
      config: JSON.parse(readFileSync(path.join(source.modelDir, source.folder, 'config.json'), 'utf8')),
      dtype: 'float32',
      weights: openComponentWeights(source.modelDir, source.folder, source.conversionCacheDir).fingerprint(),
      provider: (options.providers ?? defaultProviders()).join('>'),
    }, build);
    if (built.hit) options.log?.(`${source.component}: graph loaded from the cache`);
  } else {
    built = { ...build(), hit: false };
  }
  const loaded = await createSessionFromBytes(source.component, built.bytes, built.weightsFolder, options);
  return { loaded, meta: built.meta as M, cacheHit: built.hit };
}
