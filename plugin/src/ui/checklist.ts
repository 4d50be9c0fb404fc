// The first-run checklist: shown instead of the editing view until everything an edit needs
// is there. Each line has its state and the one action that fixes it.
import { RECOMMENDED_MODEL, type Check, type SetupModel } from '../app/setup.ts';
import { h, replaceChildren } from './dom.ts';

const DOT: Record<Check['state'], string> = { ok: 'ok', warn: 'warn', todo: 'off', busy: 'busy' };

export class ChecklistView {
  readonly el = h('section', { class: 'checklist', 'data-testid': 'checklist' });

  constructor(private readonly setup: SetupModel) {}

  update(checks: Check[]): void {
    this.el.setAttribute('data-state', checks.map((c) => `${c.id}:${c.state}`).join(' '));
    replaceChildren(
      this.el,
      h('div', { class: 'section-title' }, 'Before the first edit'),
      ...checks.map((check) =>
        h(
          'div',
          { class: 'check', 'data-testid': `check-${check.id}`, 'data-state': check.state },
          h('div', { class: 'status-line' }, h('span', { class: `dot ${DOT[check.state]}` }), h('strong', { class: 'grow' }, check.title)),
          check.detail && h('p', { class: check.state === 'todo' && check.id === 'model' && this.setup.pullError ? 'error' : 'hint', 'data-testid': `check-${check.id}-detail` }, check.detail),
          this.action(check),
        ),
      ),
    );
  }

  private action(check: Check): HTMLElement | false {
    if (check.id !== 'model') return false;
    if (check.state === 'todo') {
      return h('div', { class: 'row' }, h('button', { class: 'primary', 'data-testid': 'model-download', onclick: () => void this.setup.download() }, `Download ${RECOMMENDED_MODEL.label} — ${RECOMMENDED_MODEL.size}`));
    }
    if (check.state === 'busy') {
      const job = this.setup.pull;
      const fraction = job && job.bytes_total > 0 ? job.bytes_done / job.bytes_total : 0;
      return h(
        'div',
        {},
        h('progress', { max: '1', value: String(fraction), 'data-testid': 'model-progress' }),
        h('div', { class: 'row' }, h('button', { 'data-testid': 'model-cancel', onclick: () => void this.setup.cancel() }, 'Cancel')),
      );
    }
    return false;
  }
}
