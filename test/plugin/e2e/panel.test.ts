// End to end in headless Chromium: the built panel bundle in a page with the fake host (fake
// premierepro + fake uxp), talking to a REAL daemon on loopback whose pipeline is a test
// double. Pair, read the selection, pick a preset, render, watch progress, cancel one job,
// finish another, check the fake project's timeline; lose and regain the daemon.
// Screenshots of the main states go to test/artifacts/panel/ and test/artifacts/first-run/
// (gitignored) to be looked at; what they show is fixed by ./screens.ts, so that two trees'
// screenshots compare pixel by pixel (test/plugin/screens/compare.ts).
//
// The page is served from a loopback HTTP server, so it has a web Origin; the daemon accepts
// it only because this test lists it in `allowedOrigins` (the product default accepts none).
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { bundlePanel } from '../../../plugin/build/build.ts';
import { COMMAND_ID, PANEL_ID } from '../../../plugin/src/entrypoints.ts';
import { SETTINGS_KEY } from '../../../plugin/src/app/settings.ts';
import { CLIP_FPS, startPanelDaemon } from '../daemon_harness.ts';
import type { E2EConfig } from './host_page.ts';
import { FakeHub, readModelFiles } from '../../helpers/fake_hub.ts';
import { fixedFreeSpace, fixedPairingExpiry, SCREEN_LOCALE, screenPort, screenshot, type ScreenMask } from './screens.ts';
import { RECOMMENDED_MODEL } from '../../../plugin/src/app/setup.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
const ARTIFACTS = path.join(REPO, 'test', 'artifacts', 'panel');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const FRAMES = 20;

/** The plugin folder as UXP would load it, plus the fake host script before the bundle. */
async function buildPage(dir: string): Promise<void> {
  await bundlePanel(path.join(dir, 'main.js'));
  await esbuild.build({
    entryPoints: [path.join(HERE, 'host_page.ts')],
    outfile: path.join(dir, 'host.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    logLevel: 'warning',
  });
  const html = await fs.readFile(path.join(REPO, 'plugin', 'index.html'), 'utf8');
  assert.ok(html.includes('<script src="main.js"></script>'));
  await fs.writeFile(path.join(dir, 'index.html'), html.replace('<script src="main.js"></script>', '<script src="host.js"></script>\n    <script src="main.js"></script>'));
  await fs.copyFile(path.join(REPO, 'plugin', 'styles.css'), path.join(dir, 'styles.css'));
}

async function serveStatic(t: { after(fn: () => unknown): void }, dir: string): Promise<string> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
  const server = http.createServer(async (req, res) => {
    const name = path.basename(new URL(req.url ?? '/', 'http://x').pathname) || 'index.html';
    try {
      const body = await fs.readFile(path.join(dir, name));
      res.writeHead(200, { 'Content-Type': types[path.extname(name)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function openPanel(context: BrowserContext, origin: string, config: E2EConfig, port: number): Promise<Page> {
  const page = await context.newPage();
  await page.addInitScript(
    ({ config, port, key }) => {
      (globalThis as unknown as { __TOKENFLOW_E2E__: unknown }).__TOKENFLOW_E2E__ = config;
      if (localStorage.getItem(key) === null) localStorage.setItem(key, JSON.stringify({ port }));
    },
    { config, port, key: SETTINGS_KEY },
  );
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${origin}/index.html`);
  assert.deepEqual(errors, [], 'the panel loads without script errors');
  return page;
}

/**
 * The page has a web Origin, which the daemon never lets pair (only the panel's uxp:/plugin:
 * Origins, or none). In Premiere the panel sends its own; here the pairing requests are
 * relayed with the panel's Origin, and the answer handed back to the page.
 */
async function panelOriginForPairing(context: BrowserContext, pageOrigin: string): Promise<void> {
  const cors = { 'Access-Control-Allow-Origin': pageOrigin, 'Access-Control-Allow-Methods': 'POST', 'Access-Control-Allow-Headers': 'Content-Type, Accept' };
  await context.route(/\/v1\/pair(\/|$)/, async (route) => {
    const request = route.request();
    if (request.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
    const body = request.postData();
    const answer = await fetch(request.url(), {
      method: request.method(),
      headers: { Origin: 'uxp://com.tokenflow.premiere', ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ?? undefined,
    });
    const text = await answer.text();
    const started = request.method() === 'POST' && new URL(request.url()).pathname === '/v1/pair' && answer.ok;
    await route.fulfill({ status: answer.status, headers: { ...cors, 'Content-Type': 'application/json' }, body: started ? fixedPairingExpiry(text) : text });
  });
}

const shot = (page: Page, name: string, masks?: ScreenMask[]) => screenshot(page, path.join(ARTIFACTS, `${name}.png`), masks);
/** Waits for a condition of the test's own side (the daemon's log), up to 30 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 30_000) throw new Error(`waited 30 s for ${what}`);
    await sleep(50);
  }
}

const byTest = (id: string) => `[data-testid="${id}"]`;
const jobCard = (page: Page, prompt: string) => page.locator(byTest('job'), { has: page.locator(byTest('job-prompt'), { hasText: prompt }) });

test('panel in Chromium with a real daemon: pair, select, render, cancel, place', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} missing (apt-get install chromium)`, timeout: 180_000 }, async (t) => {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  const pageDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tf-panel-page-'));
  t.after(() => fs.rm(pageDir, { recursive: true, force: true }));
  await buildPage(pageDir);
  const origin = await serveStatic(t, pageDir);
  // The first render (a fox) stops at its second edit step until it is canceled.
  const daemon = await startPanelDaemon(t, { allowedOrigins: [origin], delayMs: 150, steps: 6, clipName: 'beach_walk.mp4', hold: 'fox' });
  const config: E2EConfig = { clip: daemon.clip, outputDir: daemon.outputDir, fps: CLIP_FPS, frames: FRAMES, ports: [daemon.port], platform: 'linux' };

  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tf-chromium-'));
  t.after(() => fs.rm(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 340, height: 900 },
    ...SCREEN_LOCALE,
  });
  t.after(() => context.close());
  const page = await openPanel(context, origin, config, daemon.port);

  // Entry points registered once, with the manifest's ids.
  assert.deepEqual(await page.evaluate(() => (window as any).tokenflowTest.registered()), { panels: [PANEL_ID], commands: [COMMAND_ID] });

  // 1. Pairing: no token stored yet.
  await page.waitForSelector(`${byTest('connection')}[data-state="needs_token"]`);
  await page.waitForSelector(`${byTest('clip-card')}[data-state="nothing_selected"]`, { state: 'attached' });
  // Until paired, the checklist stands where the editing view will be.
  await page.waitForSelector(`${byTest('check-paired')}[data-state="todo"]`);
  assert.equal(await page.isVisible(byTest('editor')), false);
  await shot(page, '01-pairing');
  // Pairing with a code: the companion shows it (here: its log); a wrong code says why.
  await panelOriginForPairing(context, origin);
  await page.click(byTest('pair-start'));
  await page.waitForSelector(`${byTest('pairing')}[data-state="waiting_for_code"]`);
  const code = daemon.pairingCode();
  await page.fill(byTest('pair-code'), code === '000000' ? '000001' : '000000');
  await page.click(byTest('pair-confirm'));
  await page.waitForSelector(`${byTest('pair-error')}:has-text("wrong code")`);
  assert.match((await page.textContent(byTest('pair-error'))) ?? '', /2 tries left/);
  await shot(page, '01b-pairing-wrong-code');
  await page.fill(byTest('pair-code'), `${code.slice(0, 3)} ${code.slice(3)}`);
  await page.click(byTest('pair-confirm'));
  await page.waitForSelector(`${byTest('connection')}[data-state="connected"]`);
  // Unpair forgets the token; pasting the token from `tokenflow token` still works.
  await page.click('.connection button:has-text("Unpair")');
  await page.waitForSelector(`${byTest('connection')}[data-state="needs_token"]`);
  await page.fill(byTest('token-input'), 'not a token');
  await page.click(byTest('token-submit'));
  await page.waitForSelector('.connection .error:has-text("not a TokenFlow token")');
  await page.fill(byTest('token-input'), daemon.token);
  await page.click(byTest('token-submit'));
  await page.waitForSelector(`${byTest('connection')}[data-state="connected"]`);
  assert.equal(await page.locator(byTest('clip-why')).textContent(), 'Select a video clip in the timeline.');
  assert.equal(await page.isDisabled(byTest('render')), true);

  // 2. The selection: audio only is refused plainly; the video clip is described.
  await page.evaluate(() => (window as any).tokenflowTest.selectAudio());
  await page.waitForSelector(`${byTest('clip-card')}[data-state="audio_only"]`);
  await page.evaluate(() => (window as any).tokenflowTest.selectSource());
  await page.waitForSelector(`${byTest('clip-card')}[data-state="ok"]`);
  assert.equal(await page.textContent(byTest('clip-name')), 'beach_walk.mp4');
  assert.equal(await page.textContent(byTest('clip-range')), 'V1 · 00:00:02:00 – 00:00:02:20');
  assert.equal(await page.textContent(byTest('clip-frames')), `0.8 s · ${FRAMES} frames @ 25 fps`);
  assert.equal(await page.textContent(byTest('blocked')), 'Describe the edit in the prompt.');
  await shot(page, '02-clip-selected');

  // 3. Prompt and preset (presets come from the daemon).
  await page.fill(byTest('prompt'), 'a fox walking on a beach');
  await page.selectOption(byTest('preset'), 'watercolor');
  await page.waitForSelector(`${byTest('preset-hint')}:has-text("watercolor painting")`);
  assert.match((await page.inputValue(byTest('negative-prompt'))) ?? '', /photorealistic/);
  await page.click(byTest('advanced-toggle'));
  await page.fill(byTest('param-steps'), '0');
  await page.waitForSelector('.param .error:has-text("steps must be a whole number from 1 to 1000")');
  await page.fill(byTest('param-steps'), '30');
  await shot(page, '03-prompt-preset-advanced');
  await page.click(byTest('advanced-toggle'));

  // 4. Two renders: the first is canceled while running, the second finishes and is placed.
  assert.equal(await page.isDisabled(byTest('render')), false);
  await page.click(byTest('render'));
  const first = jobCard(page, 'a fox walking on a beach');
  await first.waitFor();
  await page.fill(byTest('prompt'), 'a bear walking on a beach');
  await page.click(byTest('render'));
  const second = jobCard(page, 'a bear walking on a beach');
  await second.waitFor();
  await first.locator(`${byTest('job-progress')}:has-text("Editing keyframes · 2/6")`).waitFor({ timeout: 30_000 });
  await page.waitForSelector(`${byTest('job')}[data-state="queued"]`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="job"][data-state="running"] [data-testid="job-previews"] img').length === 2);
  assert.match((await first.locator(byTest('job-progress')).textContent()) ?? '', /^Editing keyframes · 2\/6 · about \d+ (s|min) left$/);
  await shot(page, '04-rendering-and-queued', [{ reason: "the time left is the daemon's measure of its real clock", locator: first.locator(byTest('job-progress')) }]);
  await first.locator(byTest('job-cancel')).click();
  await page.waitForSelector(`${byTest('job')}[data-state="canceled"]`);
  await second.locator(`${byTest('job-message')}:has-text("Placed on V2 above the clip")`).waitFor({ timeout: 60_000 });
  assert.equal(await second.getAttribute('data-state'), 'succeeded');
  assert.equal(await first.getAttribute('data-state'), 'canceled');
  await shot(page, '05-done-and-canceled');

  // The fake project's timeline: the render on V2 exactly over the source, V1 untouched.
  const TPF = 254016000000n / BigInt(CLIP_FPS);
  const timeline = await page.evaluate(() => (window as any).tokenflowTest.timeline());
  assert.equal(timeline[0].length, 1);
  assert.equal(timeline[0][0].name, 'beach_walk.mp4');
  assert.equal(timeline[1].length, 1, 'exactly one render placed (the canceled job placed nothing)');
  assert.match(timeline[1][0].path, new RegExp(`^${daemon.outputDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.deepEqual([timeline[1][0].start, timeline[1][0].end], [(TPF * 50n).toString(), (TPF * 70n).toString()]);
  assert.deepEqual(await page.evaluate(() => (window as any).tokenflowTest.undoLabels()), ['Create bin TokenFlow renders', 'TokenFlow: place render above clip']);
  assert.equal((await page.evaluate(() => (window as any).tokenflowTest.binItems())).length, 1);

  // 5. A keyframes-only preview with a re-run prompt; keyframes stream in.
  await second.locator(byTest('job-rerun')).click();
  await second.locator(byTest('rerun-prompt')).fill('a wolf walking on a beach');
  await second.locator('button:has-text("Preview")').click();
  const preview = jobCard(page, 'a wolf walking on a beach');
  await preview.waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="job"][data-state="succeeded"] [data-testid="job-message"]')?.textContent?.includes('keyframes edited'), null, { timeout: 60_000 });
  assert.ok((await preview.locator(`${byTest('job-previews')} img`).count()) >= 2, 'several keyframes previewed');
  await shot(page, '06-preview-keyframes');

  // 6. The command entry point re-reads the selection and shows the panel.
  await page.evaluate(() => (window as any).tokenflowTest.selectNone());
  await page.evaluate((id) => (window as any).tokenflowTest.runCommand(id), COMMAND_ID);
  await page.waitForSelector(`${byTest('clip-card')}[data-state="nothing_selected"]`);
  assert.deepEqual(await page.evaluate(() => (window as any).tokenflowTest.shownPanels()), [PANEL_ID]);
  // When the host disallows showing the panel, the command says so in a dialog.
  await page.evaluate(() => (window as any).tokenflowTest.refuseShowPanel('showPanel is not allowed here'));
  await page.evaluate((id) => void (window as any).tokenflowTest.runCommand(id), COMMAND_ID);
  const dialog = page.locator(byTest('message-dialog'));
  await dialog.waitFor();
  assert.match((await dialog.textContent()) ?? '', /TokenFlow could not open its panel \(showPanel is not allowed here\)\. Open it with Window › UXP Plugins › TokenFlow › TokenFlow/);
  await shot(page, '06b-command-panel-refused');
  await dialog.locator('button:has-text("OK")').click();
  await dialog.waitFor({ state: 'detached' });
  await page.evaluate(() => (window as any).tokenflowTest.refuseShowPanel(undefined));

  // Premiere's theme: light and back to dark, following document.theme's updates.
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(await background(), 'rgb(35, 35, 35)');
  await page.evaluate(() => (window as any).tokenflowTest.setTheme('light'));
  assert.equal(await page.evaluate(() => document.documentElement.getAttribute('data-theme')), 'light');
  assert.equal(await background(), 'rgb(240, 240, 240)');
  await shot(page, '06c-light-theme');
  await page.evaluate(() => (window as any).tokenflowTest.setTheme('dark'));
  assert.equal(await background(), 'rgb(35, 35, 35)');

  // 7. Connection lost and regained; settings and the last prompt survive a reload.
  await daemon.stop();
  await page.waitForSelector(`${byTest('connection')}[data-state="reconnecting"]`);
  await shot(page, '07-connection-lost');
  await daemon.restart();
  await page.waitForSelector(`${byTest('connection')}[data-state="connected"]`, { timeout: 20_000 });
  await page.reload();
  await page.waitForSelector(`${byTest('connection')}[data-state="connected"]`);
  assert.equal(await page.inputValue(byTest('prompt')), 'a bear walking on a beach');
  assert.equal(await page.inputValue(byTest('preset')), 'watercolor');
  // The jobs come from the daemon's list after the reload, a moment after it connected.
  await page.locator(byTest('job')).nth(2).waitFor();
  assert.equal(await page.locator(byTest('job')).count(), 3, 'jobs resynchronised from the daemon');

  // 8. Another panel pointed at a port where nothing listens: "not running".
  const deadPort = await screenPort(1);
  // Its manifest allows only that port, and it runs on macOS: the loopback advice is shown.
  const other = await context.newPage();
  await other.addInitScript((config) => ((globalThis as any).__TOKENFLOW_E2E__ = config), { ...config, ports: [deadPort], platform: 'darwin' });
  await other.goto(`${origin}/index.html`);
  await other.waitForSelector(`${byTest('connection')}[data-state="not_running"]`);
  assert.equal(await other.textContent(byTest('port-note')), `The panel may connect to port ${deadPort} only (its network permission): start the companion with --port ${deadPort}.`);
  assert.match((await other.textContent(byTest('mac-hint'))) ?? '', new RegExp(`^On macOS, if curl http://127\\.0\\.0\\.1:${deadPort}/v1/health in Terminal answers`));
  assert.equal(await other.locator(byTest('port-input')).count(), 0, 'no free port field');
  await shot(other, '08-daemon-not-running');
});

test('first run from nothing: checklist → pair → download the model from the fake hub with progress → green → render', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} missing (apt-get install chromium)`, timeout: 180_000 }, async (t) => {
  const shots = path.join(REPO, 'test', 'artifacts', 'first-run');
  await fs.mkdir(shots, { recursive: true });
  const pageDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tf-firstrun-page-'));
  t.after(() => fs.rm(pageDir, { recursive: true, force: true }));
  await buildPage(pageDir);
  const origin = await serveStatic(t, pageDir);
  // The fake hub serves the tiny model under the name the checklist offers; its connection
  // drops once mid-UNet so the download takes a retry and progress is seen before the end.
  const hub = await FakeHub.start();
  t.after(() => hub.close());
  hub.addRepo(RECOMMENDED_MODEL.id, readModelFiles('test/fixtures/tiny-sd15'));
  const daemon = await startPanelDaemon(t, { allowedOrigins: [origin], delayMs: 20, steps: 2, hubEndpoint: hub.endpoint, retryDelayMs: 60_000, port: await screenPort(0) });
  const config: E2EConfig = { clip: daemon.clip, outputDir: daemon.outputDir, fps: CLIP_FPS, frames: FRAMES, ports: [daemon.port], platform: 'linux' };
  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tf-chromium-'));
  t.after(() => fs.rm(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 340, height: 800 }, ...SCREEN_LOCALE });
  t.after(() => context.close());
  await panelOriginForPairing(context, origin);
  await fixedFreeSpace(context);
  const snap = (page: Page, name: string, masks?: ScreenMask[]) => screenshot(page, path.join(shots, `${name}.png`), masks);

  // 1. The companion is not running yet: the panel points at a port where nothing listens.
  await daemon.stop();
  const page = await openPanel(context, origin, config, daemon.port);
  await page.waitForSelector(`${byTest('check-companion')}[data-state="todo"]`);
  assert.match((await page.textContent(byTest('check-companion-detail'))) ?? '', /tokenflow service install/);
  assert.equal(await page.isVisible(byTest('editor')), false);
  await snap(page, '01-companion-missing');

  // 2. It starts: found, not paired.
  await daemon.restart();
  await page.waitForSelector(`${byTest('check-companion')}[data-state="ok"]`, { timeout: 20_000 });
  await page.waitForSelector(`${byTest('check-paired')}[data-state="todo"]`);
  await snap(page, '02-not-paired');

  // 3. Pair with the code the companion shows.
  await page.click(byTest('pair-start'));
  await page.waitForSelector(`${byTest('pairing')}[data-state="waiting_for_code"]`);
  await page.fill(byTest('pair-code'), daemon.pairingCode());
  await page.click(byTest('pair-confirm'));
  await page.waitForSelector(`${byTest('connection')}[data-state="connected"]`);
  await page.waitForSelector(`${byTest('check-model')}[data-state="todo"]`);
  assert.equal(await page.getAttribute(byTest('check-device'), 'data-state'), 'warn');
  assert.match((await page.textContent(byTest('check-device'))) ?? '', /renders at full size take hours on the CPU/);
  assert.equal(await page.getAttribute(byTest('check-disk'), 'data-state'), 'ok');
  assert.equal(await page.textContent(byTest('model-download')), 'Download Stable Diffusion 2.1-base — 2.6 GB');
  assert.equal(await page.isVisible(byTest('editor')), false);
  await snap(page, '03-paired-no-model');

  // 4. Download: progress is shown; the UNet's connection drops mid-way and the retry waits
  // 30 s (the back-off's cap, hub_client.ts), long enough to cancel. Downloading again
  // resumes; then the checklist is green and the editor appears.
  hub.dropOnce.set('unet/diffusion_pytorch_model.safetensors', 2_000_000);
  await page.click(byTest('model-download'));
  await page.waitForSelector(`${byTest('check-model')}[data-state="busy"]`);
  await page.waitForFunction(() => /^[\d.]+ MB of [\d.]+ MB/.test(document.querySelector('[data-testid="check-model-detail"]')?.textContent ?? ''));
  // Shot while the download waits to retry (the panel stands still), its figures masked.
  await until(() => daemon.logs.some((line) => /; retry 1 in /.test(line)), 'the daemon logs the download\'s retry');
  await snap(page, '04-downloading', [
    { reason: "bytes, rate and time left are sampled on the daemon's real clock", locator: page.locator(byTest('check-model-detail')) },
    { reason: 'the bar follows those bytes', locator: page.locator(byTest('model-progress')) },
  ]);
  await page.click(byTest('model-cancel'));
  await page.waitForSelector(`${byTest('check-model')}[data-state="todo"]`);
  assert.match((await page.textContent(byTest('check-model-detail'))) ?? '', /Download canceled; it resumes where it stopped/);
  await snap(page, '04b-download-canceled');
  await page.click(byTest('model-download'));
  await page.waitForSelector(byTest('editor'), { state: 'visible', timeout: 60_000 });
  assert.equal(await page.isVisible(byTest('checklist')), false);
  const pulls = await fetch(`${daemon.url}/v1/models/pulls`, { headers: { Authorization: `Bearer ${daemon.token}` } }).then((r) => r.json());
  assert.deepEqual(pulls.jobs.map((j: { state: string }) => j.state), ['canceled', 'succeeded']);
  assert.equal(pulls.jobs[1].bytes_done, pulls.jobs[1].bytes_total);
  assert.match(await page.textContent(byTest('connection')) ?? '', /Connected/);
  await snap(page, '05-ready');

  // 5. Render.
  await page.evaluate(() => (window as any).tokenflowTest.selectSource());
  await page.waitForSelector(`${byTest('clip-card')}[data-state="ok"]`);
  await page.fill(byTest('prompt'), 'a fox walking on a beach');
  await page.click(byTest('render'));
  await jobCard(page, 'a fox walking on a beach').locator(`${byTest('job-message')}:has-text("Placed on V2 above the clip")`).waitFor({ timeout: 60_000 });
  await snap(page, '06-rendered');
  // The daemon's default is still the bundled test model (chosen at its start): the render
  // used the model just downloaded.
  const jobs = await fetch(`${daemon.url}/v1/jobs`, { headers: { Authorization: `Bearer ${daemon.token}` } }).then((r) => r.json());
  assert.deepEqual(jobs.jobs.map((j: { request: { model?: string } }) => j.request.model), [RECOMMENDED_MODEL.id]);
});
