// One dismissable line for what just happened (an error the user should read, or news such
// as "the daemon restarted").
import type { Notice } from '../app/model.ts';
import { h, replaceChildren, setVisible } from './dom.ts';

export class NoticeView {
  readonly el = h('div', { class: 'notice', 'data-testid': 'notice', role: 'status' });

  constructor(private readonly dismiss: () => void) {}

  update(notice: Notice | undefined): void {
    setVisible(this.el, notice !== undefined);
    if (!notice) return;
    this.el.className = `notice ${notice.level}`;
    replaceChildren(this.el, h('span', { class: 'grow' }, notice.text), h('button', { class: 'link', title: 'Dismiss', onclick: () => this.dismiss() }, '×'));
  }
}
