// Which clip the panel will edit (name, range, duration, frame count) or, plainly, why none.
import type { SelectionResult } from '../premiere/clip.ts';
import { formatFps, formatTimecode } from '../premiere/time.ts';
import { h, replaceChildren } from './dom.ts';
import { formatDuration } from './format.ts';

export class ClipCard {
  readonly el = h('section', { class: 'clip-card', 'data-testid': 'clip-card' });

  update(selection: SelectionResult | undefined): void {
    if (!selection) {
      this.el.setAttribute('data-state', 'reading');
      replaceChildren(this.el, h('p', { class: 'muted' }, 'Reading the timeline selection…'));
      return;
    }
    if (!selection.ok) {
      this.el.setAttribute('data-state', selection.refusal.code);
      replaceChildren(this.el, h('div', { class: 'clip-title muted' }, 'No clip to edit'), h('p', { class: 'why', 'data-testid': 'clip-why' }, selection.refusal.message));
      return;
    }
    const clip = selection.clip;
    const tpf = BigInt(clip.sequenceTicksPerFrame);
    const range = `V${clip.trackIndex + 1} · ${formatTimecode(BigInt(clip.startTicks), tpf)} – ${formatTimecode(BigInt(clip.endTicks), tpf)}`;
    this.el.setAttribute('data-state', 'ok');
    replaceChildren(
      this.el,
      h('div', { class: 'clip-title', title: clip.mediaPath, 'data-testid': 'clip-name' }, clip.name),
      h('div', { class: 'clip-meta', 'data-testid': 'clip-range' }, range),
      h('div', { class: 'clip-meta', 'data-testid': 'clip-frames' }, `${formatDuration(clip.durationSeconds)} · ${clip.frameCount} frames @ ${formatFps(clip.mediaFps)} fps`),
    );
  }
}
