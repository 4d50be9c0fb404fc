// What keeps the e2e screenshots the same from run to run, so that two trees' screenshots can be
// compared pixel by pixel (test/plugin/screens/compare.ts): fixed inputs wherever the harness
// owns them (browser locale and time zone, the ports the panel names, the pairing clock, the
// free disk space), and a named mask where only the daemon's own clock decides what is shown.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import type { BrowserContext, Locator, Page } from 'playwright-core';

/** The panel formats clock times with the browser's locale and time zone. */
export const SCREEN_LOCALE = { locale: 'en-US', timezoneId: 'UTC' } as const;

/** The instant a pairing's expiry is counted from in the screenshots (the daemon's is now). */
const PAIRING_CLOCK_MS = Date.parse('2026-01-05T09:30:00Z');

/** Free bytes on the render folder's disk as the screenshots show them (the real figure is this machine's). */
export const SCREEN_FREE_BYTES = 250_000_000_000;

/** First port tried for a port the panel names on screen ("Port N", "--port N"). */
const SCREEN_PORT_BASE = 47811;

/**
 * A `POST /v1/pair` answer with its expiry moved to PAIRING_CLOCK_MS plus the validity the
 * daemon gave (whole seconds), so "Type it here before …" shows the same time on every run.
 */
export function fixedPairingExpiry(body: string): string {
  const answer = JSON.parse(body) as { expires_at?: unknown };
  if (typeof answer.expires_at !== 'string') return body;
  const validS = Math.round((Date.parse(answer.expires_at) - Date.now()) / 1000);
  return JSON.stringify({ ...answer, expires_at: new Date(PAIRING_CLOCK_MS + validS * 1000).toISOString() });
}

/**
 * The daemon's health answers as the page sees them, with a number for the free space on the
 * render folder's disk replaced by SCREEN_FREE_BYTES (null, or no answer, stays as it is).
 */
export async function fixedFreeSpace(context: BrowserContext): Promise<void> {
  await context.route(/\/v1\/health(\?|$)/, async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    const response = await route.fetch().catch(() => undefined);
    if (response === undefined) return route.abort('connectionrefused');
    const text = await response.text();
    const answer = parseObject(text);
    if (typeof answer?.output_free_bytes !== 'number') return route.fulfill({ response, body: text });
    return route.fulfill({ response, json: { ...answer, output_free_bytes: SCREEN_FREE_BYTES } });
  });
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The first loopback port from SCREEN_PORT_BASE + offset on that is free now. */
export async function screenPort(offset: number): Promise<number> {
  for (let port = SCREEN_PORT_BASE + offset; port < SCREEN_PORT_BASE + offset + 100; port++) {
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port from ${SCREEN_PORT_BASE + offset} on`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A part of a screenshot painted over, and why it cannot be made the same on every run. */
export interface ScreenMask {
  reason: string;
  locator: Locator;
}

/** Colour of masked parts (Playwright's default): plainly not the panel's. */
const MASK_COLOR = '#FF00FF';

/**
 * A full-page screenshot with the masks painted over; `<name>.masks.json` beside it lists each
 * mask's reason and box (page pixels) for the comparison's report.
 */
export async function screenshot(page: Page, file: string, masks: ScreenMask[] = []): Promise<void> {
  await page.screenshot({ path: file, fullPage: true, mask: masks.map((m) => m.locator), maskColor: MASK_COLOR });
  const sidecar = file.replace(/\.png$/, '.masks.json');
  if (masks.length === 0) return fs.rm(sidecar, { force: true });
  const boxes = await Promise.all(masks.map(async (m) => ({ reason: m.reason, box: await pageBox(m.locator) })));
  await fs.writeFile(sidecar, `${JSON.stringify(boxes, null, 2)}\n`);
}

function pageBox(locator: Locator): Promise<{ x: number; y: number; width: number; height: number }> {
  return locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { x: Math.floor(r.left + window.scrollX), y: Math.floor(r.top + window.scrollY), width: Math.ceil(r.width), height: Math.ceil(r.height) };
  });
}
