// Shared helpers of the browser tests: Debian's Chromium through playwright-core (never a
// downloaded browser), the local server's URL, the simulators' control APIs.

import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = (process.env.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
export const ARTIFACTS = process.env.ARTIFACTS_DIR
  || join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'artifacts', 'browser');
mkdirSync(ARTIFACTS, { recursive: true });

export async function launch() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic',
    ],
  });
  context.setDefaultTimeout(20000);
  return context;
}

export async function json(url, init) {
  const response = await fetch(url, init);
  const text = await response.text();
  let body = null;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: response.status, headers: response.headers, body };
}

export async function simulators() {
  const { body } = await json(`${BASE}/_local/simulators`);
  return body;
}

/** A token for the user logged in to the stand-in (the cookie names them). */
export async function token(cookie, validSecs) {
  const { body } = await json(`${BASE}/_local/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Cookie: cookie },
    body: JSON.stringify(validSecs === undefined ? {} : { valid_secs: validSecs }),
  });
  return body.token;
}

/** POSTs/PUTs JSON to a simulator's control API (or the app). */
export async function send(url, method, body) {
  return json(url, { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** Logs `page` in to the stand-in as a seeded user. */
export async function signIn(page, company, user) {
  await page.goto(`${BASE}/_local/`);
  await page.selectOption('#user', `${company}:${user}`);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#install-state');
}

/** Installs the app for the logged-in user through the stand-in's consent popup (once). */
export async function installApp(page) {
  if (!(await page.locator('#install').count())) return;
  const popupPromise = page.waitForEvent('popup');
  await page.click('#install');
  const popup = await popupPromise;
  await popup.waitForSelector('button[value="allow"]');
  await popup.click('button[value="allow"]');
  await page.waitForSelector('#install-state.ok', { timeout: 30000 });
}

/**
 * Connects QuickBooks company `realm` from the settings page (once): the simulated Intuit consent
 * is asked for that company (`realm_id`, which the simulator honours) instead of its first one.
 */
export async function connectQuickBooks(page, realm) {
  await page.goto(`${BASE}/_local/settings`);
  const settings = page.frameLocator('#settings-frame');
  await settings.locator('#connection-state').waitFor();
  if ((await settings.locator('#connection-state').getAttribute('data-state')) === 'connected') return;
  await page.context().route('**/connect/oauth2?**', (route) => {
    const url = new URL(route.request().url());
    url.searchParams.set('realm_id', realm);
    return route.continue({ url: url.toString() });
  });
  const popupPromise = page.waitForEvent('popup');
  await settings.locator('#connect').click();
  const popup = await popupPromise;
  await popup.waitForURL(/\/oauth\/quickbooks\/callback/);
  await popup.close();
  await settings.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 30000 });
  await page.context().unroute('**/connect/oauth2?**');
}

/** API headers for a seeded user (a fresh SDK token from the stand-in). */
export async function bearer(company, user) {
  return { Authorization: `Bearer ${await token(`pd_local_user=${company}:${user}`)}`, 'Content-Type': 'application/json' };
}

/**
 * Elements whose text does not fit their box and that carry no tooltip with it: for a select its
 * chosen option (measured), for everything else `scrollWidth > clientWidth`. Run in the frame.
 */
export function clippedIn(frame) {
  return frame.evaluate(() => {
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d');
    const out = [];
    for (const el of document.querySelectorAll('main *')) {
      const style = getComputedStyle(el);
      if (style.display === 'none' || style.visibility === 'hidden' || el.getClientRects().length === 0) continue;
      if (el.closest('.visually-hidden, [hidden]')) continue;
      let text;
      let clipped;
      if (el.tagName === 'SELECT') {
        const option = el.selectedOptions[0];
        text = option ? option.textContent : '';
        ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 18;
        clipped = ctx.measureText(text).width > room;
      } else if (el.tagName === 'INPUT' && !['checkbox', 'radio', 'hidden'].includes(el.type)) {
        text = el.value;
        clipped = el.scrollWidth > el.clientWidth + 1;
      } else {
        text = el.textContent.trim();
        clipped = el.scrollWidth > el.clientWidth + 1;
      }
      if (clipped && (el.title || '').trim() !== text.trim()) {
        out.push(`${el.tagName.toLowerCase()}#${el.id || ''}.${el.className || ''}: “${text.slice(0, 60)}” (${el.scrollWidth} > ${el.clientWidth})`);
      }
    }
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth + 1) out.push(`the page scrolls sideways (${doc.scrollWidth} > ${doc.clientWidth})`);
    return out;
  });
}

/** A US QuickBooks company with multi-currency, seeded for the rep's-day and layout tests. */
export const REP_REALM = '9341453050420077';
/** Acme Analytics (EUR) and Anna Admin (Pipedrive locale de_DE) of the Pipedrive seed. */
export const REP = { company: 1001, user: 101 };

/**
 * Chromium with Anna Admin logged in to the stand-in, the app installed and QuickBooks company
 * `REP_REALM` connected; the company is seeded afresh when `fresh`, else only when missing.
 */
export async function repSession({ fresh = false } = {}) {
  const sims = await simulators();
  const realms = (await json(`${sims.quickbooks_url}/_sim/realms`)).body;
  if (fresh || !JSON.stringify(realms).includes(REP_REALM)) {
    const seeded = await send(`${sims.quickbooks_url}/_sim/realms`, 'POST', {
      realm_id: REP_REALM, company_name: 'Daily Landscaping Inc.', country: 'US', multi_currency: true, custom_txn_numbers: false, online_payments: false,
    });
    if (seeded.status >= 300) throw new Error(`seeding the QuickBooks company: ${JSON.stringify(seeded.body)}`);
  }
  const context = await launch();
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await signIn(page, REP.company, REP.user);
  await installApp(page);
  await connectQuickBooks(page, REP_REALM);
  return { sims, context, page };
}
