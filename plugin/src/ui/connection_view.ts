// The daemon connection: a one-line status when connected, otherwise a card saying what is
// wrong and what to do (start the daemon, paste the token, update a component...).
import { DEFAULT_DAEMON_PORT } from '../app/settings.ts';
import type { ConnectionStatus } from '../daemon/connection.ts';
import { h, replaceChildren } from './dom.ts';

export interface ConnectionActions {
  submitToken(token: string): Promise<string | undefined>;
  /** Asks the companion for a pairing code: when it expires, or why it could not start. */
  startPairing(): Promise<{ expiresAt: string } | { error: string }>;
  /** Sends the typed code: undefined when paired, else why not. */
  confirmPairing(code: string): Promise<string | undefined>;
  pairingPending(): boolean;
  retry(): void;
  forgetToken(): void;
  setPort(port: number): void;
}

/** An ISO time as the user's local clock time (HH:MM:SS). */
function clockTime(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function seconds(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))} s`;
}

const code = (text: string) => h('code', {}, text);

export class ConnectionView {
  readonly el = h('section', { class: 'connection', 'data-testid': 'connection' });
  private tokenDraft = '';
  private tokenError = '';
  /** The pairing request waiting for a code, and the last refusal, kept across re-renders. */
  private pairingExpiresAt: string | undefined;
  private pairingError = '';
  private codeDraft = '';
  private readonly pairingBox = h('div', { 'data-testid': 'pairing' });

  constructor(
    private readonly allowedPorts: readonly number[],
    private readonly platform: string | undefined,
    private readonly actions: ConnectionActions,
  ) {}

  update(status: ConnectionStatus, port: number, version?: string): void {
    this.el.setAttribute('data-state', status.kind);
    if (status.kind === 'connected') {
      this.pairingExpiresAt = undefined;
      this.pairingError = '';
      const { health } = status;
      const ready = health.status === 'ok';
      replaceChildren(
        this.el,
        h(
          'div',
          { class: 'status-line' },
          h('span', { class: `dot ${ready ? 'ok' : 'warn'}` }),
          h('span', { class: 'grow' }, ready ? `Connected · ${health.device ?? 'no device'} · ${health.default_model ?? 'no model'}` : 'Connected, but the daemon cannot render yet'),
          h('button', { class: 'link', title: 'Forget the stored token and pair again', onclick: () => this.actions.forgetToken() }, 'Unpair'),
        ),
        !ready &&
          (health.default_model === null
            ? h('p', { class: 'hint' }, 'No model is installed: install one with ', code('tokenflow models pull'), ', then renders can run.')
            : h('p', { class: 'hint' }, 'No inference runtime is loaded; the terminal running ', code('tokenflow serve'), ' says why.')),
        version && h('span', { class: 'hidden', 'data-testid': 'daemon-version' }, version),
      );
      return;
    }
    replaceChildren(this.el, ...this.card(status, port));
  }

  private card(status: Exclude<ConnectionStatus, { kind: 'connected' }>, port: number): (Node | false)[] {
    const title = (text: string, tone = 'warn') => h('div', { class: 'status-line' }, h('span', { class: `dot ${tone}` }), h('strong', { class: 'grow' }, text));
    switch (status.kind) {
      case 'connecting':
        return [title(`Looking for the TokenFlow daemon on port ${port}…`, 'busy')];
      case 'not_running':
        return [
          title('TokenFlow daemon not running', 'off'),
          h('p', {}, 'Start the TokenFlow companion: ', code('tokenflow serve'), ' (or ', code('tokenflow service install'), ' once, to start it at every login). ', `The panel connects by itself (next try in ${seconds(status.retryInMs)}).`),
          this.platform === 'darwin' && this.macLoopbackHint(port),
          this.portRow(port),
        ];
      case 'reconnecting':
        return [
          title('Connection to the daemon lost — reconnecting', 'busy'),
          h('p', {}, `Next try in ${seconds(status.retryInMs)}. Renders keep running in the daemon; their state is picked up on reconnect.`),
          h('div', { class: 'row' }, h('button', { onclick: () => this.actions.retry() }, 'Retry now')),
        ];
      case 'not_tokenflow':
        return [
          title(`Another program answers on port ${port}`, 'off'),
          this.allowedPorts.length > 1
            ? h('p', {}, 'Stop it, or start the daemon on another port this panel may use (', code('tokenflow serve --port N'), ') and pick that port here.')
            : h('p', {}, `Stop it: the panel may connect to port ${port} only, so the daemon has to listen there.`),
          this.portRow(port),
        ];
      case 'version_mismatch':
        return [
          title('Panel and daemon versions do not match', 'off'),
          h('p', {}, `The daemon speaks API ${status.daemonApi}; this panel speaks v1. Update the daemon or the panel so both are the same release.`),
          h('div', { class: 'row' }, h('button', { onclick: () => this.actions.retry() }, 'Check again')),
        ];
      case 'refused':
        return [
          title('The daemon refused the panel', 'off'),
          h('p', {}, status.message),
          h('div', { class: 'row' }, h('button', { onclick: () => this.actions.retry() }, 'Try again')),
        ];
      case 'needs_token':
      case 'wrong_token':
        return [
          title(status.kind === 'needs_token' ? 'Pair the panel with the TokenFlow companion' : 'The daemon refused the stored token: pair again', status.kind === 'needs_token' ? 'busy' : 'off'),
          status.kind === 'wrong_token' && h('p', { class: 'error' }, status.message),
          this.pairingRow(),
          h('p', { class: 'hint' }, 'Or run ', code('tokenflow token'), ' in a terminal and paste the token it prints. Either way it is stored in Premiere’s secure storage; you are asked only once.'),
          this.tokenRow(''),
        ];
    }
  }

  /**
   * Pairing in two clicks: "Pair" makes the companion show a one-time code (its window, a
   * desktop notification, its log); the user types it here (README, "Pairing").
   */
  private pairingRow(): HTMLElement {
    const box = this.pairingBox;
    box.setAttribute('data-state', this.pairingExpiresAt === undefined ? 'idle' : 'waiting_for_code');
    const errorLine = h('p', { class: 'error', 'data-testid': 'pair-error' }, this.pairingError);
    const start = async () => {
      const answer = await this.actions.startPairing();
      this.pairingExpiresAt = 'error' in answer ? undefined : answer.expiresAt;
      this.pairingError = 'error' in answer ? answer.error : '';
      this.pairingRow();
    };
    if (this.pairingExpiresAt === undefined) {
      replaceChildren(
        box,
        h('p', {}, 'Click ', h('strong', {}, 'Pair'), ': the TokenFlow companion shows a 6-digit code, which you type here. Only this panel can pair; web pages cannot.'),
        h('div', { class: 'row' }, h('button', { class: 'primary', 'data-testid': 'pair-start', onclick: () => void start() }, this.pairingError ? 'Pair again' : 'Pair')),
        errorLine,
      );
      return box;
    }
    const input = h('input', {
      type: 'text',
      class: 'grow',
      inputmode: 'numeric',
      autocomplete: 'off',
      placeholder: '6-digit code',
      value: this.codeDraft,
      'data-testid': 'pair-code',
      oninput: () => (this.codeDraft = input.value),
    });
    const confirm = async () => {
      const error = await this.actions.confirmPairing(input.value);
      this.codeDraft = '';
      this.pairingError = error ?? '';
      if (!error || !this.actions.pairingPending()) this.pairingExpiresAt = undefined;
      this.pairingRow();
    };
    replaceChildren(
      box,
      h('p', {}, 'The companion now shows a pairing code: in the window where it runs, as a desktop notification, or (when it starts at login) at the end of its log ', code('service.log'), '. Type it here before ', clockTime(this.pairingExpiresAt), '.'),
      h('div', { class: 'row' }, input, h('button', { class: 'primary', 'data-testid': 'pair-confirm', onclick: () => void confirm() }, 'Confirm'), h('button', { 'data-testid': 'pair-restart', title: 'Ask for a new code', onclick: () => void start() }, 'New code')),
      errorLine,
    );
    return box;
  }

  private tokenRow(refusal: string): HTMLElement {
    const input = h('input', {
      type: 'text',
      class: 'grow',
      placeholder: 'paste the token',
      value: this.tokenDraft,
      'data-testid': 'token-input',
      oninput: () => (this.tokenDraft = input.value),
    });
    const submit = async () => {
      const error = await this.actions.submitToken(input.value);
      this.tokenError = error ?? '';
      if (!error) this.tokenDraft = '';
      errorLine.textContent = this.tokenError;
    };
    const errorLine = h('p', { class: 'error' }, this.tokenError || refusal);
    return h('div', {}, h('div', { class: 'row' }, input, h('button', { class: 'primary', onclick: () => void submit(), 'data-testid': 'token-submit' }, 'Use token')), errorLine);
  }

  /**
   * macOS: Adobe's network notes warn that macOS restricts http://, while Apple's App
   * Transport Security leaves connections to IP addresses alone, which is why the panel
   * talks to 127.0.0.1 and never to a host name (README, "Install for
   * editors"). If the daemon answers a terminal but not the panel, this says what to check.
   */
  private macLoopbackHint(port: number): HTMLElement {
    return h(
      'p',
      { class: 'hint', 'data-testid': 'mac-hint' },
      'On macOS, if ',
      code(`curl http://127.0.0.1:${port}/v1/health`),
      ' in Terminal answers but this panel still cannot connect, Premiere blocked the connection: start the daemon with its defaults (',
      code(`--host 127.0.0.1 --port ${port}`),
      '; not localhost, no proxy), then quit and reopen Premiere Pro. If it stays blocked, report it with your macOS and Premiere versions.',
    );
  }

  /** The ports the manifest allows: a fixed note for one, a choice for several. */
  private portRow(port: number): HTMLElement {
    const note = h('p', { class: 'hint', 'data-testid': 'port-note' },
      this.allowedPorts.length === 1
        ? `The panel may connect to port ${port} only (its network permission)${port === DEFAULT_DAEMON_PORT ? ", the companion's default" : `: start the companion with --port ${port}`}.`
        : `Premiere lets the panel connect only to the ports its network permission lists: ${this.allowedPorts.join(', ')}.`);
    if (this.allowedPorts.length <= 1) {
      return h('div', {}, h('div', { class: 'row' }, h('span', { class: 'label grow' }, `Port ${port}`), h('button', { onclick: () => this.actions.retry() }, 'Retry now')), note);
    }
    const select = h('select', { class: 'port', 'data-testid': 'port-select' },
      ...this.allowedPorts.map((p) => h('option', { value: String(p), selected: p === port }, String(p))));
    return h(
      'div',
      {},
      h('div', { class: 'row' }, h('span', { class: 'label' }, 'Port'), select, h('button', {
        onclick: () => {
          const value = Number(select.value);
          if (value !== port) this.actions.setPort(value);
          else this.actions.retry();
        },
      }, 'Retry now')),
      note,
    );
  }
}
