// The acceptance flow, clicked through in Chromium against `cargo run -p local` (the Pipedrive
// stand-in and the simulators): install, connect QuickBooks, save settings, open a deal, create an
// invoice with one unlinked line (blocked, then linked, then created), see it in the panel, send,
// download the PDF, record a payment in the QuickBooks simulator, refresh → Paid, create another
// (keyboard only) and void it → Voided; a deal field mapped to the amount outstanding follows. Each
// step is asserted on the page and in the simulator.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, BASE, json, launch, send, simulators, token } from './lib.mjs';

const COMPANY = 2002; // Bolt Logistics Inc. (US, USD) of the Pipedrive simulator's seed
const USER = 201; // Dana Diaz, admin
const DEAL = 1; // "Fleet tracking rollout": 2 products, none linked to a QuickBooks item

let context;
let page;
let sims;
let realm;
let outstandingKey; // the deal field mapped to the amount outstanding

const qb = (path) => json(`${sims.quickbooks_url}${path}`);
const qbInvoices = async () => (await qb(`/_sim/realms/${realm}/invoices`)).body.Invoice || [];
const qbRequests = async () => (await qb('/_sim/requests')).body;
const pdRequests = async () => (await json(`${sims.pipedrive_url}/_sim/requests`)).body;

before(async () => {
  sims = await simulators();
  realm = sims.quickbooks_realms.us;
  context = await launch();
  page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
});

after(async () => {
  if (context) await context.close();
});

const panel = () => page.frameLocator('#panel-frame');
const modal = () => page.frameLocator('#modal-frame');

/** Removes the snackbars shown so far (so the next wait sees only new ones). */
async function clearSnackbars() {
  await page.evaluate(() => document.getElementById('snackbars').replaceChildren());
}

async function snackbar(text) {
  await page.locator('#snackbars .snackbar', { hasText: text }).first().waitFor();
}

async function invoiceMenu(invoiceId, action) {
  await clearSnackbars();
  const row = panel().locator(`li.invoice[data-invoice-id="${invoiceId}"]`);
  await row.locator('button.more').click();
  await row.locator(`.menu button[data-action="${action}"]`).click();
}

test('install the app as a Pipedrive admin', async () => {
  await page.goto(`${BASE}/_local/`);
  await page.selectOption('#user', `${COMPANY}:${USER}`);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#install');
  const popupPromise = page.waitForEvent('popup');
  await page.click('#install');
  const popup = await popupPromise;
  await popup.waitForSelector('select[name="user"]');
  assert.equal(await popup.inputValue('select[name="user"]'), `${COMPANY}:${USER}`);
  await popup.click('button[value="allow"]');
  await page.waitForSelector('#install-state.ok', { timeout: 30000 });
  assert.match(await page.textContent('#install-state'), /installed/);
  // In the simulator: the code was exchanged for tokens with the app's credentials.
  const tokenCalls = (await pdRequests()).filter((r) => r.method === 'POST' && r.path.startsWith('/oauth/token'));
  assert.ok(tokenCalls.length >= 1, 'the app exchanged the install code');
  const session = (await json(`${BASE}/_local/session`, { headers: { Cookie: `pd_local_user=${COMPANY}:${USER}` } })).body;
  assert.equal(session.installed, true);
});

test('connect QuickBooks from the settings page', async () => {
  await page.click('#app-settings');
  const settings = page.frameLocator('#settings-frame');
  await settings.locator('#connection-state[data-state="not_connected"]').waitFor();
  const popupPromise = page.waitForEvent('popup');
  await settings.locator('#connect').click();
  const popup = await popupPromise;
  await popup.waitForLoadState();
  // The simulated Intuit consent page (skipped when the simulator auto-approves).
  if (await popup.locator('select[name="realm_id"]').count()) {
    await popup.selectOption('select[name="realm_id"]', realm);
    await popup.click('#connect');
    await popup.waitForLoadState();
  }
  await popup.waitForURL(/\/oauth\/quickbooks\/callback/);
  assert.match(await popup.textContent('body'), /Connected/i);
  await popup.close();
  await settings.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 30000 });
  // In the simulator: the authorization code was exchanged at Intuit's token endpoint.
  const exchanges = (await qbRequests()).filter((r) => r.method === 'POST' && r.path === '/oauth2/v1/tokens/bearer');
  assert.ok(exchanges.length >= 1, 'the app exchanged the QuickBooks code');
});

test('save the settings', async () => {
  const settings = page.frameLocator('#settings-frame');
  // The mapping offers the company's real fields: the organisation tax-id custom field fits tax_id.
  const taxOptions = await settings.locator('#map-tax_id option').allTextContents();
  assert.ok(taxOptions.some((t) => /Organization ›/.test(t)), `tax id options: ${taxOptions}`);
  const settingsFrame = page.frames().find((f) => f.url().includes('/ui/settings'));
  const unlabelled = await settingsFrame.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map((el) => el.id || el.outerHTML));
  assert.deepEqual(unlabelled, [], 'settings fields without a label');
  await settings.locator('#due-days-n').fill('7');
  await settings.locator('#due-days').check();
  await settings.locator('#save').click();
  await snackbar('Settings saved');
  const before = (await pdRequests()).length;
  assert.ok(before > 0);
  // Saved for real: a reload shows 7 days.
  await page.reload();
  await page.frameLocator('#settings-frame').locator('#due-days-n').waitFor();
  assert.equal(await page.frameLocator('#settings-frame').locator('#due-days-n').inputValue(), '7');
  // In the simulator: the field catalog was read from Pipedrive.
  assert.ok((await pdRequests()).some((r) => r.path === '/api/v2/organizationFields'));
});

test('a save over someone else\'s newer settings shows theirs and lets the user re-apply', async () => {
  const settings = page.frameLocator('#settings-frame');
  // Someone else (another tab) saves a different access policy.
  const bearer = { Authorization: `Bearer ${await token(`pd_local_user=${COMPANY}:${USER}`)}`, 'Content-Type': 'application/json' };
  const current = (await json(`${BASE}/api/settings`, { headers: bearer })).body;
  current.settings.access = 'connected_user_only';
  const theirs = await json(`${BASE}/api/settings`, { method: 'PUT', headers: bearer, body: JSON.stringify(current) });
  assert.equal(theirs.status, 200);
  // This page still has the old version: saving shows their settings instead of overwriting.
  await settings.locator('#due-days-n').fill('10');
  await settings.locator('#save').click();
  await settings.locator('#conflict').waitFor();
  assert.match(await settings.locator('#conflict').innerText(), /Only the user who connected QuickBooks|only the user who connected QuickBooks/);
  await clearSnackbars();
  await settings.locator('#reapply-mine').click();
  await snackbar('Settings saved');
  const saved = (await json(`${BASE}/api/settings`, { headers: bearer })).body;
  assert.equal(saved.settings.access, 'all_installed_users');
  assert.deepEqual(saved.settings.due_date, { kind: 'days_after_issue', days: 10 });
});

test('map a Pipedrive deal field to an invoice figure: offered where its type fits, saved and shown', async () => {
  // An admin adds a monetary custom deal field in Pipedrive.
  const added = await send(`${sims.pipedrive_url}/_sim/companies/${COMPANY}/fields/deal`, 'POST',
    { field_name: 'Amount outstanding', field_type: 'monetary' });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  outstandingKey = added.body.field_code;
  const bearer = { Authorization: `Bearer ${await token(`pd_local_user=${COMPANY}:${USER}`)}` };
  await json(`${BASE}/api/settings/fields?fresh=true`, { headers: bearer });
  await page.reload();
  const settings = page.frameLocator('#settings-frame');
  await settings.locator('#figure-outstanding').waitFor();
  const amounts = await settings.locator('#figure-outstanding option').allTextContents();
  assert.ok(amounts.includes('Amount outstanding'), `outstanding options: ${amounts}`);
  const numbers = await settings.locator('#figure-last_number option').allTextContents();
  assert.ok(!numbers.includes('Amount outstanding'), `a monetary field cannot hold the number: ${numbers}`);
  await settings.locator('#figure-outstanding').selectOption(outstandingKey);
  await clearSnackbars();
  await settings.locator('#save').click();
  await snackbar('Settings saved');
  await page.reload();
  await page.frameLocator('#settings-frame').locator('#figure-outstanding').waitFor();
  assert.equal(await page.frameLocator('#settings-frame').locator('#figure-outstanding').inputValue(), outstandingKey);
  const saved = (await json(`${BASE}/api/settings`, { headers: bearer })).body;
  assert.deepEqual(saved.settings.write_back, { outstanding: { key: outstandingKey, field_type: 'monetary' } });
});

test('create an invoice: blocked while a line is unlinked, then linked, then created', async () => {
  await page.goto(`${BASE}/_local/deal/${DEAL}`);
  await panel().locator('#no-invoices').waitFor();
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'panel-empty.png') });
  await panel().locator('#create-invoice').click();
  await page.locator('#modal-backdrop:not([hidden])').waitFor();
  const m = modal();
  await m.locator('#invoice-form').waitFor();
  // Customer: create "Bolt Freight Co." in QuickBooks from the pre-filled block.
  assert.equal(await m.locator('#customer-name').inputValue(), 'Bolt Freight Co.');
  await m.locator('#create-customer').click();
  await m.locator('#linked-customer').waitFor();
  const customers = (await qb(`/_sim/realms/${realm}/customers`)).body;
  assert.ok(customers.some((c) => c.DisplayName === 'Bolt Freight Co.'), 'customer created in QuickBooks');
  // Two lines pre-filled from the deal's products, both unlinked; keep one.
  assert.equal(await m.locator('li.line').count(), 2);
  assert.equal(await m.locator('li.line[data-unlinked="true"] .warn-icon').count(), 2);
  await m.getByRole('button', { name: 'Remove line 2' }).click();
  assert.equal(await m.locator('li.line').count(), 1);
  assert.equal(await m.locator('li.line[data-unlinked="true"] .warn-icon').count(), 1);
  // Blocked: the error shows next to the line's item, and nothing reaches QuickBooks.
  await m.locator('#create').click();
  const itemError = m.locator('[data-field="lines[0].item_id"] .field-error');
  await itemError.waitFor();
  assert.match(await itemError.textContent(), /not linked to a QuickBooks product or service/);
  assert.equal((await qbInvoices()).length, 0, 'no invoice in QuickBooks');
  // Linked: search the items and choose one.
  const line = m.locator('li.line').first();
  await line.locator('input[type="search"]').fill('Widget');
  await line.getByRole('button', { name: 'Search items for line 1' }).click();
  await line.locator('.results button', { hasText: 'Use Widget' }).click();
  await line.locator('.linked', { hasText: 'Widget' }).waitFor();
  assert.equal(await m.locator('.warn-icon').count(), 0);
  const shownTotal = await m.locator('#total').getAttribute('data-value');
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'modal.png') });
  // Created: the modal closes, the panel lists it.
  await m.locator('#create').click();
  await snackbar('created in QuickBooks');
  await page.locator('#modal-backdrop[hidden]').waitFor({ state: 'attached' });
  const invoices = await qbInvoices();
  assert.equal(invoices.length, 1, 'one invoice in QuickBooks');
  const [created] = invoices;
  assert.equal(Number(created.TotalAmt).toFixed(2), shownTotal, 'the modal showed the total QuickBooks computed');
  const row = panel().locator(`li.invoice[data-invoice-id="${created.Id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-status'), 'open');
  assert.equal(await row.locator('.flag').textContent(), 'Open');
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'panel.png') });
});

test('send the invoice and download its PDF', async () => {
  const [invoice] = await qbInvoices();
  await invoiceMenu(invoice.Id, 'send');
  // The address field is offered (empty: QuickBooks' billing e-mail of the invoice).
  await panel().locator(`#send-to-${invoice.Id}`).waitFor();
  await panel().locator(`#send-submit-${invoice.Id}`).click();
  await snackbar('e-mailed by QuickBooks');
  await panel().locator(`li.invoice[data-invoice-id="${invoice.Id}"] [data-sent="true"]`).waitFor();
  const sent = (await qb(`/_sim/realms/${realm}/invoices/${invoice.Id}`)).body;
  assert.equal((sent.Invoice || sent).EmailStatus, 'EmailSent', 'QuickBooks sent it');

  const downloadPromise = page.waitForEvent('download');
  await invoiceMenu(invoice.Id, 'download');
  const download = await downloadPromise;
  assert.match(download.suggestedFilename(), /\.pdf$/);
  const file = join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(file);
  assert.equal(readFileSync(file).subarray(0, 5).toString(), '%PDF-');
  assert.ok((await qbRequests()).some((r) => r.method === 'GET' && r.path === `/v3/company/${realm}/invoice/${invoice.Id}/pdf`));
});

test('a payment recorded in QuickBooks shows as Paid after refresh', async () => {
  const [invoice] = await qbInvoices();
  const paid = await json(`${sims.quickbooks_url}/_sim/realms/${realm}/payments`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ invoice_id: invoice.Id }),
  });
  assert.ok(paid.status < 300, `payment recorded: ${JSON.stringify(paid.body)}`);
  await panel().locator('#refresh').click();
  const row = panel().locator(`li.invoice[data-invoice-id="${invoice.Id}"]`);
  await panel().locator(`li.invoice[data-invoice-id="${invoice.Id}"][data-status="paid"]`).waitFor();
  assert.equal(await row.locator('.flag').textContent(), 'Paid');
  assert.equal(Number((await qb(`/_sim/realms/${realm}/invoices/${invoice.Id}`)).body.Balance ?? (await qb(`/_sim/realms/${realm}/invoices/${invoice.Id}`)).body.Invoice.Balance), 0);
});

test('create another invoice with the keyboard only, then void it', async () => {
  await panel().locator('#create-invoice').focus();
  await page.keyboard.press('Enter');
  const m = modal();
  await m.locator('#invoice-form').waitFor();
  // The customer link and the product's item link are remembered.
  await m.locator('#linked-customer').waitFor();
  const first = m.locator('li.line').first();
  await first.locator('.linked', { hasText: 'Widget' }).waitFor();
  // Keyboard only from here: Tab to "Remove line 2" and press Enter.
  await tabTo(m, (el) => el.getAttribute('aria-label') === 'Remove line 2');
  await page.keyboard.press('Enter');
  await m.locator('li.line').nth(1).waitFor({ state: 'detached' });
  // Add a line, type its description, search an item by typing and Enter, choose with Enter.
  await tabTo(m, (el) => el.id === 'add-line');
  await page.keyboard.press('Enter');
  await page.keyboard.type('Installation');
  await tabTo(m, (el) => el.id.endsWith('-price') && el.closest('li.line').dataset.line === '1');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('150');
  await tabTo(m, (el) => el.type === 'search' && el.closest('li.line') && el.closest('li.line').dataset.line === '1');
  await page.keyboard.type('Hours');
  await page.keyboard.press('Enter');
  // The focus moves to the first item found (the list shown on focus came first; this is the
  // search's).
  const modalFrame = page.frames().find((f) => f.url().includes('/ui/modal'));
  await modalFrame.waitForFunction(() => document.activeElement && document.activeElement.classList.contains('result')
    && document.activeElement.textContent.startsWith('Use Hours'));
  await page.keyboard.press('Enter');
  await m.locator('li.line').nth(1).locator('.linked', { hasText: 'Hours' }).waitFor();
  await tabTo(m, (el) => el.id === 'create');
  const before = (await qbInvoices()).length;
  await clearSnackbars();
  await page.keyboard.press('Enter');
  await snackbar('created in QuickBooks');
  const invoices = await qbInvoices();
  assert.equal(invoices.length, before + 1);
  const second = invoices.find((i) => !['1'].includes(i.Id) && Number(i.Balance) > 0) || invoices[invoices.length - 1];
  assert.equal(second.Line.filter((l) => l.DetailType === 'SalesItemLineDetail').length, 2, JSON.stringify(second.Line));
  const row = panel().locator(`li.invoice[data-invoice-id="${second.Id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-status'), 'open');

  await invoiceMenu(second.Id, 'void');
  await page.locator('#confirm[open]').waitFor();
  assert.match(await page.textContent('#confirm-title'), /Void invoice/);
  await page.click('#confirm-ok');
  await panel().locator(`li.invoice[data-invoice-id="${second.Id}"][data-status="voided"]`).waitFor();
  assert.equal(await row.locator('.flag').textContent(), 'Voided');
  const voided = (await qb(`/_sim/realms/${realm}/invoices/${second.Id}`)).body;
  const v = voided.Invoice || voided;
  assert.equal(Number(v.TotalAmt), 0, 'voided in QuickBooks');
  assert.match(v.PrivateNote || '', /Voided/);
  // The first invoice is untouched.
  await panel().locator('li.invoice[data-status="paid"]').waitFor();
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'panel-paid-and-void.png') });
  // Usable at the panel's width: nothing overflows sideways.
  const panelFrame = page.frames().find((f) => f.url().includes('/ui/panel'));
  const overflow = await panelFrame.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the panel overflows by ${overflow}px`);
  // The panel follows Pipedrive's theme (the SDK's user_settings_change event).
  assert.equal(await panelFrame.evaluate(() => document.documentElement.dataset.theme), 'light');
  await page.click('#theme-toggle');
  await panel().locator('html[data-theme="dark"]').waitFor({ state: 'attached' });
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'panel-dark.png') });
  await page.click('#theme-toggle');
  await panel().locator('html[data-theme="light"]').waitFor({ state: 'attached' });
});

/** Presses Tab (at most 80 times) until the focused element in the modal frame matches. */
async function tabTo(frameLocator, predicate) {
  const frame = page.frames().find((f) => f.url().includes('/ui/modal'));
  assert.ok(frame, 'the modal frame');
  for (let i = 0; i < 80; i += 1) {
    await page.keyboard.press('Tab');
    const hit = await frame.evaluate(`(${predicate.toString()})(document.activeElement)`).catch(() => false);
    if (hit) return;
  }
  assert.fail(`Tab never reached the element (${predicate})`);
}

test('the mapped deal field followed the invoices: outstanding after the create, 0 once paid and voided', async () => {
  const patches = (await pdRequests())
    .filter((r) => r.method === 'PATCH' && r.path === `/api/v2/deals/${DEAL}` && r.status < 300)
    .map((r) => JSON.parse(r.body).custom_fields[outstandingKey]);
  assert.ok(patches.length >= 2, `deal updates: ${JSON.stringify(patches)}`);
  assert.ok(patches[0].value > 0 && patches[0].currency === 'USD', `after the create: ${JSON.stringify(patches[0])}`);
  assert.deepEqual(patches.at(-1), { value: 0, currency: 'USD' });
});

test('every field of the create modal and of the all-invoices view has a label', async () => {
  await panel().locator('#create-invoice').click();
  const m = modal();
  await m.locator('#invoice-form').waitFor();
  await m.locator('#add-line').click();
  const unlabelled = () => page.frames().find((f) => f.url().includes('/ui/')).evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden')
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.outerHTML));
  const modalFrame = page.frames().find((f) => f.url().includes('/ui/modal'));
  const missing = await modalFrame.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden')
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.outerHTML));
  assert.deepEqual(missing, [], 'modal fields without a label');
  assert.ok(unlabelled);
  await page.click('#modal-close');
  await page.locator('#modal-backdrop[hidden]').waitFor({ state: 'attached' });

  // All invoices of the linked customer: both invoices, linked to this deal; unlink and link back.
  await panel().locator('#all-invoices').click();
  const all = modal();
  await all.locator('table#all-invoices').waitFor();
  const invoicesFrame = page.frames().find((f) => f.url().includes('/ui/invoices'));
  const missingAll = await invoicesFrame.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.outerHTML));
  assert.deepEqual(missingAll, [], 'all-invoices fields without a label');
  assert.equal(await all.locator('tr[data-linked="true"]').count(), 2);
  await all.locator('tr[data-linked="true"] button').first().click();
  await all.locator('tr[data-linked="false"]').waitFor();
  await all.locator('tr[data-linked="false"] button').click();
  await all.locator('tr[data-linked="false"]').waitFor({ state: 'detached' });
  await all.locator('#preset').selectOption('30');
  await all.locator('table#all-invoices').waitFor();
  await all.locator('#close').click();
  await page.locator('#modal-backdrop[hidden]').waitFor({ state: 'attached' });
});

test('a deal with more invoices than a page lists the newest 25, then "Show more" adds the rest', async () => {
  const bearer = { Authorization: `Bearer ${await token(`pd_local_user=${COMPANY}:${USER}`)}`, 'Content-Type': 'application/json' };
  const draft = await json(`${BASE}/api/deals/${DEAL}/draft`, { headers: bearer });
  assert.equal(draft.status, 200, JSON.stringify(draft.body));
  // The deal's second product is not linked to an item (the first test removed its line): the
  // linked lines only.
  // The same invoice 26 times, knowingly: no "create another?" question.
  const form = { ...draft.body.form, lines: draft.body.form.lines.filter((l) => l.item_id), confirm_duplicate: true };
  assert.ok(form.lines.length > 0, JSON.stringify(draft.body.form));
  const before = (await json(`${BASE}/api/deals/${DEAL}/invoices`, { headers: bearer })).body.invoice_count;
  for (let i = 0; i < 26; i += 1) {
    const created = await json(`${BASE}/api/deals/${DEAL}/invoices`, {
      method: 'POST',
      headers: { ...bearer, 'Idempotency-Key': `browser-page-${i}-${Date.now()}` },
      body: JSON.stringify(form),
    });
    assert.ok(created.status < 300, `invoice ${i}: ${JSON.stringify(created.body)}`);
  }
  const count = before + 26;
  await panel().locator('#refresh').click();
  await panel().locator('#more-invoices').waitFor();
  assert.equal(await panel().locator('li.invoice').count(), 25);
  assert.equal(await panel().locator('#more-invoices').textContent(), `Show more (${count - 25} more invoices)`);
  // The summary counts every invoice, not only the page.
  await panel().locator('#summary').waitFor();
  await panel().locator('#more-invoices').click();
  await panel().locator('#more-invoices').waitFor({ state: 'detached' });
  assert.equal(await panel().locator('li.invoice').count(), count);
  const ids = await panel().locator('li.invoice').evaluateAll((rows) => rows.map((r) => r.dataset.invoiceId));
  assert.equal(new Set(ids).size, count, 'no invoice listed twice');
  // The paid and the voided invoices of the earlier steps are the oldest: on the second page.
  await panel().locator('li.invoice[data-status="paid"]').waitFor();
  await panel().locator('li.invoice[data-status="voided"]').waitFor();
});
