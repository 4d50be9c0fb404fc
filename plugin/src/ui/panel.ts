// Puts the panel together: the model over Premiere and the daemon, and the views that
// follow it. Everything the host provides comes in through PanelHost, so the same code runs
// in Premiere and, with fakes, in a test browser.
import { PanelModel, type Topic } from '../app/model.ts';
import { loadSettings } from '../app/settings.ts';
import { DaemonError, type FetchLike } from '../../../shared/daemon_client.ts';
import { BUNDLED_TEST_MODEL, SetupModel } from '../app/setup.ts';
import { ChecklistView } from './checklist.ts';
import { DaemonConnection, PairingStateError, TokenFormatError, type WebSocketFactory } from '../daemon/connection.ts';
import { SecureTokenStore, type KeyValueStore, type UxpSecureStorage } from '../host/storage.ts';
import { PremiereAdapter } from '../premiere/adapter.ts';
import type { Ppro } from '../premiere/ppro.ts';
import { ActionsSection } from './actions.ts';
import { AdvancedSection } from './advanced.ts';
import { ClipCard } from './clip_card.ts';
import { ConnectionView } from './connection_view.ts';
import { h, replaceChildren, setVisible } from './dom.ts';
import { JobList } from './job_list.ts';
import { NoticeView } from './notice_view.ts';
import { PromptForm } from './prompt_form.ts';

export interface PanelHost {
  ppro: Ppro;
  secureStorage: UxpSecureStorage;
  localStorage: KeyValueStore;
  fetch: FetchLike;
  openSocket: WebSocketFactory;
  /** The daemon ports the manifest lets the panel reach (app/network.ts). */
  allowedPorts: readonly number[];
  /** The OS (UXP os.platform()); some connection advice is macOS-specific. */
  platform?: string;
}

export interface Panel {
  model: PanelModel;
  /** The "edit selected clip" command: re-read the selection and put the caret in the prompt. */
  editSelected(): Promise<void>;
  destroy(): void;
}

export function daemonUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/** Why pairing failed, for the user: the daemon's own reason, or what else went wrong. */
function pairingFailure(err: unknown): string {
  if (err instanceof DaemonError && err.unreachable) return 'The companion stopped answering: start it, then pair again.';
  if (err instanceof DaemonError && err.code === 'forbidden') {
    return `${err.message}. Paste the token from \`tokenflow token\` instead.`;
  }
  if ((err instanceof DaemonError && !err.protocolMismatch) || err instanceof PairingStateError) return err.message;
  return `Pairing failed: ${err instanceof Error ? err.message : String(err)}`;
}

/** The stored port if the manifest allows it, else the first allowed one. */
function allowedPort(saved: number, allowed: readonly number[]): number {
  return allowed.includes(saved) || allowed.length === 0 ? saved : allowed[0]!;
}

export function mountPanel(root: HTMLElement, host: PanelHost): Panel {
  const store = host.localStorage;
  const saved = loadSettings(store).port;
  const port = allowedPort(saved, host.allowedPorts);
  const connection = new DaemonConnection({
    baseUrl: daemonUrl(port),
    fetch: host.fetch,
    openSocket: host.openSocket,
    secrets: new SecureTokenStore(host.secureStorage),
  });
  const model = new PanelModel({ premiere: new PremiereAdapter(host.ppro), connection, store });
  if (port !== saved) model.updateSettings({ port });

  const connectionView = new ConnectionView(host.allowedPorts, host.platform, {
    submitToken: async (token) => {
      try {
        await connection.submitToken(token);
        return undefined;
      } catch (err) {
        return err instanceof TokenFormatError ? err.message : `Could not store the token: ${err instanceof Error ? err.message : String(err)}`;
      }
    },
    startPairing: async () => {
      try {
        return { expiresAt: (await connection.startPairing()).expires_at };
      } catch (err) {
        return { error: pairingFailure(err) };
      }
    },
    confirmPairing: async (code) => {
      try {
        await connection.confirmPairing(code);
        return undefined;
      } catch (err) {
        return pairingFailure(err);
      }
    },
    pairingPending: () => connection.pairingPending,
    retry: () => connection.retryNow(),
    forgetToken: () => void connection.forgetToken(),
    setPort: (port) => {
      model.updateSettings({ port });
      connection.setBaseUrl(daemonUrl(port));
    },
  });
  const setup = new SetupModel(connection);
  const checklist = new ChecklistView(setup);
  const notice = new NoticeView(() => model.clearNotice());
  const clipCard = new ClipCard();
  const form = new PromptForm(model);
  const advanced = new AdvancedSection(model);
  const actions = new ActionsSection(model);
  const jobs = new JobList(model);

  const editor = h('div', { class: 'editor', 'data-testid': 'editor' }, h('div', { class: 'section-title' }, 'Clip'), clipCard.el, form.el, advanced.el, actions.el, jobs.el);
  replaceChildren(
    root,
    h(
      'div',
      { class: 'panel' },
      connectionView.el,
      notice.el,
      checklist.el,
      editor,
    ),
  );
  /** The checklist until every check passes (a warning does not block), then the editing view. */
  const renderSetup = () => {
    const checks = setup.checks(model.connection);
    const ready = model.connection.kind === 'connected' && checks.every((c) => c.state === 'ok' || c.state === 'warn');
    checklist.update(checks);
    setVisible(checklist.el, !ready);
    setVisible(editor, ready);
  };
  const unsubscribeSetup = setup.subscribe(() => {
    adoptDownloadedModel();
    renderSetup();
  });
  /**
   * The daemon keeps the default model it chose at start (the bundled test model on a first
   * run) until it restarts, so a model just downloaded from the checklist becomes the panel's
   * model, unless the user picked one.
   */
  const adoptDownloadedModel = () => {
    const health = model.health;
    if (setup.pull?.state !== 'succeeded' || model.settings.model !== '' || health?.default_model !== BUNDLED_TEST_MODEL) return;
    model.updateSettings({ model: setup.pull.model_id });
  };

  const render = (topics: ReadonlySet<Topic>) => {
    if (topics.has('connection')) {
      connectionView.update(model.connection, model.settings.port);
      renderSetup();
      advanced.update(model.health);
    }
    if (topics.has('notice')) notice.update(model.notice);
    if (topics.has('clip')) clipCard.update(model.clip);
    if (topics.has('presets')) form.updatePresets(model.presets);
    if (topics.has('settings')) {
      form.updateSettings();
      advanced.update(model.health);
    }
    if (topics.has('jobs')) jobs.update();
    actions.update();
  };
  const unsubscribe = model.subscribe(render);
  render(new Set<Topic>(['connection', 'notice', 'clip', 'presets', 'settings', 'jobs']));
  model.start();

  return {
    model,
    async editSelected() {
      await model.refreshSelection();
      const prompt = root.querySelector<HTMLTextAreaElement>('[data-testid="prompt"]');
      prompt?.focus();
    },
    destroy() {
      unsubscribe();
      unsubscribeSetup();
      model.stop();
    },
  };
}
