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
