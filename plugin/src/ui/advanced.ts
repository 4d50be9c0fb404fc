// "Advanced": the TokenFlow parameters with the reference defaults and one line on each, and
// the model. Values are checked with the shared schema as they are typed.
import type { Health } from '../../../shared/health.ts';
import { JobParameters, PARAMETERS, type Parameter, type ParameterKey } from '../../../shared/parameters.ts';
import type { PanelModel } from '../app/model.ts';
import { h, replaceChildren, setText, setVisible, syncValue } from './dom.ts';

export class AdvancedSection {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private readonly inputs = new Map<ParameterKey, { input: HTMLInputElement; error: HTMLElement }>();
  private readonly modelSelect: HTMLSelectElement;

  constructor(private readonly model: PanelModel) {
    this.toggle = h('button', { class: 'disclosure', 'data-testid': 'advanced-toggle', onclick: () => model.updateSettings({ advancedOpen: !model.settings.advancedOpen }) }, 'Advanced');
    this.modelSelect = h('select', { 'data-testid': 'model', onchange: () => model.updateSettings({ model: this.modelSelect.value }) });
    const fields = PARAMETERS.map((spec) => this.field(spec));
    this.body = h(
      'div',
      { class: 'advanced-body' },
      ...fields,
      h('label', { class: 'param' }, h('span', { class: 'label' }, 'Model'), this.modelSelect, h('span', { class: 'hint' }, 'Stable Diffusion weights installed in the daemon.')),
      h('div', { class: 'row end' }, h('button', { class: 'link', 'data-testid': 'reset-parameters', onclick: () => model.resetParameters() }, 'Reset to defaults')),
    );
    this.el = h('section', { class: 'advanced' }, this.toggle, this.body);
  }

  private field(spec: Parameter): HTMLElement {
    const input = h('input', { type: 'number', step: String(spec.step), 'data-testid': `param-${spec.key}` });
    const error = h('span', { class: 'error' });
    input.addEventListener('input', () => {
      const parsed = JobParameters.shape[spec.key].safeParse(input.value.trim() === '' ? NaN : Number(input.value));
      if (parsed.success) {
        error.textContent = '';
        input.classList.remove('invalid');
        this.model.updateSettings({ parameters: { ...this.model.settings.parameters, [spec.key]: parsed.data } });
      } else {
        error.textContent = parsed.error.issues[0]?.message ?? 'invalid value';
        input.classList.add('invalid');
      }
    });
    this.inputs.set(spec.key, { input, error });
    return h(
      'label',
      { class: 'param' },
      h('span', { class: 'label' }, spec.label),
      input,
      h('span', { class: 'hint' }, `${spec.help} Reference: ${spec.default}.`),
      error,
    );
  }

  update(health: Health | undefined): void {
    const { settings } = this.model;
    setVisible(this.body, settings.advancedOpen);
    setText(this.toggle, settings.advancedOpen ? '▾ Advanced' : '▸ Advanced');
    for (const [key, { input, error }] of this.inputs) {
      if (error.textContent === '') syncValue(input, String(settings.parameters[key]));
    }
    const models = health?.models ?? [];
    const current = [...this.modelSelect.options].map((o) => o.value).join('|');
    const wanted = ['', ...models, ...(settings.model && !models.includes(settings.model) ? [settings.model] : [])];
    if (current !== wanted.join('|')) {
      replaceChildren(
        this.modelSelect,
        ...wanted.map((id) => h('option', { value: id }, id === '' ? `Daemon default${health?.default_model ? ` (${health.default_model})` : ''}` : id)),
      );
    }
    this.modelSelect.value = settings.model;
  }
}
