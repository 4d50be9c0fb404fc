// The panel's one door into Premiere: read the selected clip, follow selection changes, and
// bring a finished render into the project and the sequence.
import { findOrCreateBin, ImportError, importIntoBin, RENDERS_BIN, type WaitOptions } from './bins.ts';
import type { ClipRef, SelectionResult } from './clip.ts';
import { placeRender, type PlacementMode, type PlacementResult } from './placement.ts';
import type { Ppro } from './ppro.ts';
import { readSelectedClip } from './selection.ts';

export interface PlaceRenderRequest {
  /** The render on disk (the daemon's output path). */
  path: string;
  clip: ClipRef;
  mode: PlacementMode;
  /** The render's length in ticks, when known, to check it against the clip. */
  renderTicks?: bigint;
}

export class PremiereAdapter {
  constructor(
    private readonly ppro: Ppro,
    private readonly waitOptions: WaitOptions = {},
  ) {}

  readSelection(): Promise<SelectionResult> {
    return readSelectedClip(this.ppro);
  }

  /**
   * Calls `listener` when the timeline selection, the active sequence or the project changes
   * (the panel then re-reads the selection). Returns the unsubscribe function.
   */
  onSelectionChanged(listener: () => void): () => void {
    const { EventManager, Constants } = this.ppro;
    const events = [
      Constants.SequenceEvent.SELECTION_CHANGED,
      Constants.SequenceEvent.ACTIVATED,
      Constants.SequenceEvent.CLOSED,
      Constants.ProjectEvent.ACTIVATED,
      Constants.ProjectEvent.CLOSED,
    ];
    const handler = () => listener();
    for (const event of events) EventManager.addGlobalEventListener(event, handler);
    return () => {
      for (const event of events) EventManager.removeGlobalEventListener(event, handler);
    };
  }

  /** Imports the render into the "TokenFlow renders" bin, then places it as asked. */
  async importAndPlace(request: PlaceRenderRequest): Promise<PlacementResult> {
    const project = await this.ppro.Project.getActiveProject();
    if (!project) throw new ImportError('no project is open in Premiere Pro');
    const bin = await findOrCreateBin(this.ppro, project, RENDERS_BIN);
    const render = await importIntoBin(this.ppro, project, bin, request.path, this.waitOptions);
    return placeRender(this.ppro, project, render, request.clip, request.mode, { renderTicks: request.renderTicks });
  }

  /** Imports the render into the bin only (when it cannot or should not be placed). */
  async importOnly(path: string): Promise<void> {
    const project = await this.ppro.Project.getActiveProject();
    if (!project) throw new ImportError('no project is open in Premiere Pro');
    const bin = await findOrCreateBin(this.ppro, project, RENDERS_BIN);
    await importIntoBin(this.ppro, project, bin, path, this.waitOptions);
  }
}
