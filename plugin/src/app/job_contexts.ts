// For each job this panel sent: where its render goes (the source clip and the placement
// mode) and whether it was placed. Kept in localStorage so a render that finishes while the
// panel is closed can still be placed later.
import { readJson, writeJson, type KeyValueStore } from '../host/storage.ts';
import type { ClipRef } from '../premiere/clip.ts';
import type { PlacementMode } from '../premiere/placement.ts';

export interface JobContext {
  clip: ClipRef;
  mode: PlacementMode;
  /** Set once the render was placed (or imported into the bin only). */
  placed: boolean;
}

export const CONTEXTS_KEY = 'tokenflow.jobs.v1';
/** Oldest contexts are dropped beyond this many (the daemon forgets jobs too). */
const MAX_CONTEXTS = 200;

export class JobContexts {
  private readonly map: Map<string, JobContext>;

  constructor(private readonly store: KeyValueStore) {
    this.map = new Map(Object.entries(readJson<Record<string, JobContext>>(store, CONTEXTS_KEY, {})));
  }

  get(id: string): JobContext | undefined {
    return this.map.get(id);
  }

  set(id: string, context: JobContext): void {
    this.map.delete(id);
    this.map.set(id, context);
    while (this.map.size > MAX_CONTEXTS) this.map.delete(this.map.keys().next().value as string);
    this.save();
  }

  markPlaced(id: string): void {
    const context = this.map.get(id);
    if (!context) return;
    context.placed = true;
    this.save();
  }

  delete(id: string): void {
    if (this.map.delete(id)) this.save();
  }

  private save(): void {
    writeJson(this.store, CONTEXTS_KEY, Object.fromEntries(this.map));
  }
}
