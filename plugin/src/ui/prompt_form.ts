// Prompt, preset and the two secondary prompts. Presets come from the daemon (built-in and
// the user's); "Save as preset" stores the current negative prompt and parameters there.
import { PROMPT_PLACEHOLDER, type Preset } from '../../../shared/presets.ts';
import type { PanelModel } from '../app/model.ts';
import { h, replaceChildren, setText, setVisible, syncValue } from './dom.ts';

export class PromptForm {
  readonly el: HTMLElement;
  private readonly prompt: HTMLTextAreaElement;
  private readonly presetSelect: HTMLSelectElement;
  private readonly presetHint: HTMLElement;
  private readonly deletePreset: HTMLButtonElement;
  private readonly sourcePrompt: HTMLInputElement;
  private readonly negativePrompt: HTMLInputElement;
  private readonly saveForm: HTMLElement;
  private readonly saveName: HTMLInputElement;
  private readonly saveDescription: HTMLInputElement;
  private readonly saveTemplate: HTMLInputElement;
  private readonly saveError: HTMLElement;

  constructor(private readonly model: PanelModel) {
    this.prompt = h('textarea', {
      rows: '3',
      placeholder: 'Describe the edit, e.g. “a red fox running through fresh snow”',
      'data-testid': 'prompt',
      oninput: () => model.updateSettings({ prompt: this.prompt.value }),
    });
    this.presetSelect = h('select', { class: 'grow', 'data-testid': 'preset', onchange: () => model.choosePreset(this.presetSelect.value) });
    this.deletePreset = h('button', { class: 'link', title: 'Delete this preset from the daemon', onclick: () => void model.deletePreset(model.settings.preset) }, 'Delete');
    this.presetHint = h('p', { class: 'hint', 'data-testid': 'preset-hint' });
    this.sourcePrompt = h('input', {
      type: 'text',
      placeholder: 'optional, e.g. “a woman running”',
      'data-testid': 'source-prompt',
      oninput: () => model.updateSettings({ sourcePrompt: this.sourcePrompt.value }),
    });
    this.negativePrompt = h('input', {
      type: 'text',
      'data-testid': 'negative-prompt',
      oninput: () => model.updateSettings({ negativePrompt: this.negativePrompt.value }),
    });

    this.saveName = h('input', { type: 'text', placeholder: 'name: a-z 0-9 - _', 'data-testid': 'save-name' });
    this.saveDescription = h('input', { type: 'text', placeholder: 'short description' });
    this.saveTemplate = h('input', { type: 'text', 'data-testid': 'save-template' });
    this.saveError = h('p', { class: 'error' });
    this.saveForm = h(
      'div',
      { class: 'subform', 'data-testid': 'save-form' },
      h('label', {}, h('span', { class: 'label' }, 'Preset name'), this.saveName),
      h('label', {}, h('span', { class: 'label' }, 'Description'), this.saveDescription),
      h('label', {}, h('span', { class: 'label' }, `Prompt template (${PROMPT_PLACEHOLDER} = your prompt)`), this.saveTemplate),
      h('p', { class: 'hint' }, 'Saves the negative prompt and the Advanced settings with it.'),
      this.saveError,
      h(
        'div',
        { class: 'row end' },
        h('button', { onclick: () => setVisible(this.saveForm, false) }, 'Cancel'),
        h('button', { class: 'primary', 'data-testid': 'save-confirm', onclick: () => void this.save() }, 'Save preset'),
      ),
    );
    setVisible(this.saveForm, false);

    this.el = h(
      'section',
      { class: 'form' },
      h('label', {}, h('span', { class: 'label' }, 'Prompt'), this.prompt),
      h(
        'div',
        { class: 'field' },
        h('span', { class: 'label' }, 'Preset'),
        h('div', { class: 'row' }, this.presetSelect, this.deletePreset, h('button', { class: 'link', 'data-testid': 'save-preset', onclick: () => this.openSave() }, 'Save as preset…')),
        this.presetHint,
      ),
      this.saveForm,
      h('label', {}, h('span', { class: 'label' }, 'Source prompt'), this.sourcePrompt, h('span', { class: 'hint' }, 'What the original clip shows; guides the inversion.')),
      h('label', {}, h('span', { class: 'label' }, 'Negative prompt'), this.negativePrompt, h('span', { class: 'hint' }, 'What the edit should avoid.')),
    );
  }

  private openSave(): void {
    const preset = this.model.selectedPreset();
    this.saveName.value = '';
    this.saveDescription.value = '';
    this.saveTemplate.value = preset?.prompt ?? PROMPT_PLACEHOLDER;
    this.saveError.textContent = '';
    setVisible(this.saveForm, true);
  }

  private async save(): Promise<void> {
    const name = this.saveName.value.trim();
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) {
      this.saveError.textContent = 'Use 1 to 64 characters: a-z, 0-9, - and _ (starting with a letter or digit).';
      return;
    }
    if (this.model.presets.some((p) => p.name === name && p.builtin)) {
      this.saveError.textContent = `"${name}" is a built-in preset; choose another name.`;
      return;
    }
    if (await this.model.savePreset(name, this.saveDescription.value.trim(), this.saveTemplate.value)) setVisible(this.saveForm, false);
    else this.saveError.textContent = this.model.notice?.text ?? 'Could not save the preset.';
  }

  updatePresets(presets: readonly Preset[]): void {
    // Flat options (UXP's dropdown has no optgroup): built-ins first, then the user's, marked.
    replaceChildren(
      this.presetSelect,
      h('option', { value: '' }, 'None (prompt as written)'),
      ...presets.filter((p) => p.builtin).map((p) => h('option', { value: p.name }, p.name)),
      ...presets.filter((p) => !p.builtin).map((p) => h('option', { value: p.name }, `${p.name} (yours)`)),
    );
    this.updateSettings();
  }

  updateSettings(): void {
    const { settings } = this.model;
    syncValue(this.prompt, settings.prompt);
    syncValue(this.sourcePrompt, settings.sourcePrompt);
    syncValue(this.negativePrompt, settings.negativePrompt);
    // A stored preset the daemon has not listed (offline, or deleted elsewhere) stays visible.
    if (settings.preset && ![...this.presetSelect.options].some((o) => o.value === settings.preset)) {
      const why = this.model.connection.kind === 'connected' ? 'not on the daemon' : 'daemon offline';
      this.presetSelect.appendChild(h('option', { value: settings.preset }, `${settings.preset} (${why})`));
    }
    this.presetSelect.value = settings.preset;
    const preset = this.model.selectedPreset();
    setText(this.presetHint, preset ? `${preset.description} — “${preset.prompt}”` : '');
    setVisible(this.presetHint, preset !== undefined);
    setVisible(this.deletePreset, preset !== undefined && !preset.builtin);
  }
}
