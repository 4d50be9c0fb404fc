// Where the render goes, and the Preview / Render buttons (with why they are disabled).
import type { PanelModel } from '../app/model.ts';
import type { PlacementMode } from '../premiere/placement.ts';
import { h, setText, setVisible } from './dom.ts';

export class ActionsSection {
  readonly el: HTMLElement;
  private readonly radios = new Map<PlacementMode, HTMLInputElement>();
  private readonly preview: HTMLButtonElement;
  private readonly render: HTMLButtonElement;
  private readonly blocked: HTMLElement;

  constructor(private readonly model: PanelModel) {
    const radio = (mode: PlacementMode, label: string, hint: string) => {
      const input = h('input', { type: 'radio', name: 'placement', value: mode, 'data-testid': `placement-${mode}`, onchange: () => model.updateSettings({ placement: mode }) });
      this.radios.set(mode, input);
      return h('label', { class: 'choice' }, input, h('span', {}, label), h('span', { class: 'hint' }, hint));
    };
    this.preview = h('button', { 'data-testid': 'preview', title: 'Edit the keyframes only: a fast look at the result', onclick: () => void model.submit(true) }, 'Preview');
    this.render = h('button', { class: 'primary grow', 'data-testid': 'render', onclick: () => void model.submit(false) }, 'Render');
    this.blocked = h('p', { class: 'hint', 'data-testid': 'blocked' });
    this.el = h(
      'section',
      { class: 'actions' },
      h(
        'div',
        { class: 'field' },
        h('span', { class: 'label' }, 'When the render is done'),
        radio('above', 'Place on the track above', 'keeps the original'),
        radio('replace', 'Replace the clip', 'one undo restores it'),
      ),
      h('div', { class: 'row' }, this.preview, this.render),
      this.blocked,
    );
  }

  update(): void {
    for (const [mode, input] of this.radios) input.checked = this.model.settings.placement === mode;
    const reason = this.model.blockedReason();
    const disabled = reason !== undefined || this.model.submitting;
    this.preview.disabled = disabled;
    this.render.disabled = disabled;
    setText(this.blocked, reason ?? '');
    setVisible(this.blocked, reason !== undefined);
  }
}
