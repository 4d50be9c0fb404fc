// The jobs: state, prompt, stage/step/ETA, streaming keyframe previews, placement outcome,
// and Cancel / Place / Re-run / Remove. One card per job, updated in place.
import { isActiveState } from '../../../shared/jobs.ts';
import { ticksToSeconds } from '../../../shared/ticks.ts';
import type { JobView, PanelModel } from '../app/model.ts';
import { h, replaceChildren, setText, setVisible } from './dom.ts';
import { baseName, formatEta, percent, stageLabel, stateLabel } from './format.ts';
import { queuedTexts } from './queue_position.ts';

class JobCard {
  readonly el: HTMLElement;
  private readonly badge = h('span', { class: 'badge' });
  private readonly kind = h('span', { class: 'muted' });
  private readonly prompt = h('div', { class: 'job-prompt', 'data-testid': 'job-prompt' });
  private readonly source = h('div', { class: 'job-meta' });
  private readonly bar = h('div', { class: 'bar-fill' });
  private readonly progress = h('div', { class: 'progress' }, h('div', { class: 'bar' }, this.bar));
  private readonly progressText = h('div', { class: 'job-meta', 'data-testid': 'job-progress' });
  private readonly previews = h('div', { class: 'previews', 'data-testid': 'job-previews' });
  private readonly previewImages = new Map<number, HTMLImageElement>();
  private readonly message = h('div', { class: 'job-message', 'data-testid': 'job-message' });
  private readonly buttons = h('div', { class: 'row end' });
  private readonly rerunInput = h('input', { type: 'text', class: 'grow', placeholder: 'new prompt', 'data-testid': 'rerun-prompt' });
  private readonly rerunRow: HTMLElement;

  constructor(
    readonly id: string,
    private readonly model: PanelModel,
  ) {
    this.rerunRow = h(
      'div',
      { class: 'subform' },
      h('div', { class: 'row' }, this.rerunInput),
      h(
        'div',
        { class: 'row end' },
        h('button', { class: 'link', onclick: () => setVisible(this.rerunRow, false) }, 'Cancel'),
        h('button', { onclick: () => void this.rerun(true) }, 'Preview'),
        h('button', { class: 'primary', 'data-testid': 'rerun-render', onclick: () => void this.rerun(false) }, 'Render'),
      ),
    );
    setVisible(this.rerunRow, false);
    this.el = h(
      'article',
      { class: 'job', 'data-job-id': id, 'data-testid': 'job' },
      h('div', { class: 'row' }, this.badge, this.kind),
      this.prompt,
      this.source,
      this.progress,
      this.progressText,
      this.previews,
      this.message,
      this.buttons,
      this.rerunRow,
    );
  }

  private async rerun(previewOnly: boolean): Promise<void> {
    const job = await this.model.rerun(this.id, this.rerunInput.value, previewOnly);
    if (job) {
      this.rerunInput.value = '';
      setVisible(this.rerunRow, false);
    }
  }

  /** `queuedText`: a queued job's place in the queue (queue_position.ts), given for every queued job and only for them. */
  update(view: JobView, queuedText: string | undefined): void {
    const { record } = view;
    const active = isActiveState(record.state);
    this.el.setAttribute('data-state', record.state);
    setText(this.badge, stateLabel(record.state));
    this.badge.className = `badge ${record.state}`;
    setText(this.kind, record.request.preview_only ? 'Preview · keyframes only' : 'Render');
    setText(this.prompt, record.request.prompt + (record.settings.preset ? `  ·  ${record.settings.preset}` : ''));
    this.prompt.title = record.settings.prompt;
    const from = ticksToSeconds(BigInt(record.settings.start_ticks));
    const to = ticksToSeconds(BigInt(record.settings.end_ticks));
    setText(this.source, `${baseName(record.request.source_path)} · ${from.toFixed(2)}–${to.toFixed(2)} s`);

    const progress = view.progress;
    setVisible(this.progress, active);
    this.bar.style.width = percent(progress?.overall ?? record.progress.overall);
    let progressText = queuedText ?? '';
    if (record.state === 'running') {
      const stage = progress?.stage ?? record.stage;
      const step = progress && progress.total > 0 ? ` · ${progress.done}/${progress.total}` : '';
      const eta = formatEta(progress?.eta_s ?? record.progress.eta_s);
      progressText = `${stage ? stageLabel(stage) : 'Starting'}${step}${eta ? ` · ${eta}` : ''}`;
    }
    setText(this.progressText, progressText);
    setVisible(this.progressText, progressText !== '');

    this.updatePreviews(view);

    let message = '';
    let tone = '';
    if (record.error && !active && record.state !== 'canceled') {
      message = record.error.message;
      tone = 'error';
    } else if (view.placement) {
      message = view.placement.message;
      tone = view.placement.state === 'failed' ? 'error' : view.placement.state === 'placed' ? 'ok' : '';
    } else if (record.state === 'succeeded' && record.request.preview_only) {
      message = `${record.result?.frame_count ?? 0} keyframes edited.`;
    } else if (record.state === 'succeeded' && !view.context) {
      message = `Render written to ${record.result?.output_path ?? 'the output folder'}.`;
    }
    setText(this.message, message);
    this.message.className = `job-message ${tone}`;
    setVisible(this.message, message !== '');

    const buttons: HTMLElement[] = [];
    if (active) buttons.push(h('button', { 'data-testid': 'job-cancel', onclick: () => void this.model.cancel(this.id) }, record.state === 'queued' ? 'Remove from queue' : 'Cancel'));
    const canPlace = record.state === 'succeeded' && !record.request.preview_only && view.context !== undefined && view.placement?.state !== 'placing';
    if (canPlace && (!view.context?.placed || view.placement?.state === 'failed')) {
      buttons.push(h('button', { 'data-testid': 'job-place', onclick: () => void this.model.place(this.id) }, view.placement?.state === 'failed' ? 'Try again' : 'Place in sequence'));
    }
    if (!active) {
      buttons.push(h('button', { 'data-testid': 'job-rerun', onclick: () => this.openRerun(record.request.prompt) }, 'Re-run…'));
      buttons.push(h('button', { class: 'link', 'data-testid': 'job-remove', title: 'Remove from the list (the render file stays)', onclick: () => void this.model.remove(this.id) }, 'Remove'));
    }
    replaceChildren(this.buttons, ...buttons);
  }

  private openRerun(prompt: string): void {
    if (this.rerunInput.value === '') this.rerunInput.value = prompt;
    setVisible(this.rerunRow, true);
    this.rerunInput.focus();
  }

  private updatePreviews(view: JobView): void {
    const wanted = new Set(view.previews.map((p) => p.index));
    for (const [index, img] of this.previewImages) {
      if (!wanted.has(index)) {
        img.remove();
        this.previewImages.delete(index);
      }
    }
    for (const preview of view.previews) {
      const existing = this.previewImages.get(preview.index);
      if (existing) {
        if (existing.src !== preview.src) existing.src = preview.src;
        continue;
      }
      const img = h('img', { src: preview.src, alt: `keyframe ${preview.index}`, title: `frame ${preview.index}` });
      this.previewImages.set(preview.index, img);
      const next = [...this.previewImages.entries()].filter(([i]) => i > preview.index).sort((a, b) => a[0] - b[0])[0];
      this.previews.insertBefore(img, next ? next[1] : null);
    }
    setVisible(this.previews, view.previews.length > 0);
  }
}

export class JobList {
  readonly el: HTMLElement;
  private readonly header = h('div', { class: 'section-title', 'data-testid': 'jobs-title' });
  private readonly list = h('div', { class: 'jobs', 'data-testid': 'jobs' });
  private readonly empty = h('p', { class: 'muted' }, 'No edits yet. Renders and previews you start appear here.');
  private readonly cards = new Map<string, JobCard>();

  constructor(private readonly model: PanelModel) {
    this.el = h('section', { class: 'job-list' }, this.header, this.empty, this.list);
  }

  update(): void {
    const views = this.model.jobs();
    const running = views.filter((v) => v.record.state === 'running').length;
    const queued = queuedTexts(views, running, this.model.health?.workers !== undefined);
    setText(this.header, `Jobs${running + queued.size > 0 ? ` · ${running} running, ${queued.size} queued` : ''}`);
    setVisible(this.empty, views.length === 0);
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const view of views) {
      seen.add(view.record.id);
      let card = this.cards.get(view.record.id);
      if (!card) {
        card = new JobCard(view.record.id, this.model);
        this.cards.set(view.record.id, card);
      }
      card.update(view, queued.get(view.record.id));
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== card.el) this.list.insertBefore(card.el, expected);
      previous = card.el;
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.el.remove();
        this.cards.delete(id);
      }
    }
  }
}
