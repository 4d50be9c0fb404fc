// The fake host for the E2E page, loaded before the panel bundle: a fake `premierepro` world
// (a sequence with the test clip on V1 and its audio on A1), a fake `uxp` and `os`, served
// through a global require() like UXP's, and document.theme; plus window.tokenflowTest for
// the test to drive and inspect.
import { createFakePremiere, TPS } from '../fake_premierepro.ts';
import { createFakeTheme, createFakeUxp } from '../fake_uxp.ts';

export interface E2EConfig {
  clip: string;
  outputDir: string;
  fps: number;
  /** Frames of the clip used in the sequence (the render has as many). */
  frames: number;
  /** Daemon ports the fake manifest's network permission lists. */
  ports: number[];
  /** What UXP's os.platform() answers. */
  platform: string;
}

const config = (globalThis as unknown as { __TOKENFLOW_E2E__: E2EConfig }).__TOKENFLOW_E2E__;
const fake = createFakePremiere();
fake.addMedia({ path: config.clip, fps: config.fps, frames: 50, hasAudio: true });
fake.resolveMedia = (path) => (path.startsWith(config.outputDir) ? { fps: config.fps, frames: config.frames } : undefined);
const sequence = fake.addSequence('Edit 01', TPS / BigInt(config.fps), 2, 2);
const source = fake.addTrackItem(sequence, { track: 0, item: fake.addClip(config.clip), startFrame: 50, inFrame: 10, frames: config.frames, audioTrack: 0 });
const uxp = createFakeUxp(globalThis.localStorage, { networkDomains: config.ports.flatMap((p) => [`http://127.0.0.1:${p}`, `ws://127.0.0.1:${p}`]) });
const theme = createFakeTheme('dark');
(document as unknown as { theme: unknown }).theme = theme;

(globalThis as unknown as { require: (id: string) => unknown }).require = (id: string) => {
  if (id === 'premierepro') return fake.ppro;
  if (id === 'uxp') return uxp;
  if (id === 'os') return { platform: () => config.platform };
  throw new Error(`fake host: no module "${id}"`);
};

(globalThis as unknown as { tokenflowTest: unknown }).tokenflowTest = {
  selectSource: () => fake.selectLinked(sequence, source),
  selectAudio: () => fake.select(sequence, ...sequence.audioTracks[0].items),
  selectNone: () => fake.select(sequence),
  timeline: () => fake.timeline(sequence),
  undoLabels: () => fake.undoLabels(),
  binItems: () => fake.bin('TokenFlow renders')?.items.map((i) => i.name) ?? [],
  runCommand: (id: string) => uxp.entrypoints.runCommand(id),
  registered: () => {
    const call = uxp.entrypoints.calls[0];
    return { panels: Object.keys(call?.panels ?? {}), commands: Object.keys(call?.commands ?? {}) };
  },
  shownPanels: () => [...uxp.shownPanels],
  refuseShowPanel: (message: string | undefined) => (uxp.control.refuseShowPanel = message),
  setTheme: (name: string) => theme.set(name),
};
