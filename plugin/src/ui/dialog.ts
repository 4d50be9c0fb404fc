// A plain message in a modal dialog, for what must be said when the panel itself cannot be
// shown (the "edit selected clip" command). UXP opens a <dialog> with uxpShowModal(); a
// browser (the E2E page) with showModal().
import { h } from './dom.ts';

type ModalDialog = HTMLDialogElement & { uxpShowModal?(options: { title: string; resize: string }): Promise<unknown> };

export async function showMessage(doc: Document, title: string, text: string): Promise<void> {
  const dialog = h('dialog', { class: 'message', 'data-testid': 'message-dialog' }) as ModalDialog;
  const ok = h('button', { class: 'primary', onclick: () => dialog.close() }, 'OK');
  dialog.append(h('strong', {}, title), h('p', {}, text), h('div', { class: 'row end' }, ok));
  doc.body.append(dialog);
  const closed = new Promise<void>((resolve) => dialog.addEventListener('close', () => resolve()));
  try {
    if (dialog.uxpShowModal) await dialog.uxpShowModal({ title, resize: 'none' });
    else {
      dialog.showModal();
      await closed;
    }
  } finally {
    dialog.remove();
  }
}
