// Headless Debian Chromium driven by playwright-core: pages that watch for CSP violations and requests to
// other hosts, axe-core scans, screenshots under test-results/.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const results = join(here, '..', '..', 'test-results');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Chromium; with `camera`, a fake camera that shows that Y4M file (and camera permission granted). */
export async function launch({ camera } = {}) {
  const fake = camera ? ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${camera}`] : [];
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', ...fake],
  });
}

/** A fresh page (own context: own storage) that records what a test must not see. */
export async function openPage(browser, stack, { wallet, injectEthereum = false, announce = true, width = 1180, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.problems = [];
  const origin = new URL(stack.url).host;
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if ((u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'ws:') && u.host !== origin) page.problems.push(`request to another host: ${r.url()}`);
  });
  if (wallet) await wallet.attach(page, { injectEthereum, announce });
  return page;
}

/** Clicks the wallet's connect button and waits for the account to show. */
export async function connect(page, wallet) {
  await page.getByRole('button', { name: `Connect ${wallet.info.name}` }).click();
  await page.getByTestId('account').waitFor();
}

/** Waits until nothing is loading any more; returns the page's time since navigation start, in ms. */
export async function interactive(page) {
  await page.waitForFunction(() => document.querySelector('h1') && !document.querySelector('[aria-busy="true"]'), null, { timeout: 30_000 });
  return page.evaluate(() => Math.round(performance.now()));
}

/** axe-core's serious and critical violations on the page as it is (WCAG 2 A/AA rules and best practices). */
export async function axe(page) {
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Saves a screenshot of the whole page, or of `part` (a locator) only. */
export async function shot(page, name, part) {
  mkdirSync(join(results, 'screens'), { recursive: true });
  const path = join(results, 'screens', `${name}.png`);
  await (part ? part.screenshot({ path }) : page.screenshot({ path, fullPage: true }));
  return path;
}

/** Appends measurements (not assertions) to test-results/metrics.json. */
export function record(key, value) {
  mkdirSync(results, { recursive: true });
  const path = join(results, 'metrics.json');
  let all = {};
  try {
    all = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    /* first */
  }
  all[key] = value;
  writeFileSync(path, JSON.stringify(all, null, 1) + '\n');
}
