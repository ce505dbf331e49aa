// Deposits and progress billing clicked through in Chromium against `cargo run -p local`: a
// deal of 1,000.01 USD (seeded in the Pipedrive simulator for this test alone), a 30 % deposit
// and then "Invoice the rest" in the create modal; the panel's progress bar and figures equal what
// the store answers; more than what is left is refused in the page with how much is left.
// Screenshots: the panel at 320 px, the modal at 720 px (artifacts/browser/progress-*.png).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ARTIFACTS, BASE, bearer, clippedIn, json, REP, REP_REALM, repSession, send,
} from './lib.mjs';

const { company: COMPANY, user: USER } = REP; // Acme Analytics, Anna Admin (de_DE)
const REALM = REP_REALM;
/** Ids only this test uses (deal, organization, products). */
const DEAL = 7101;
const ORG = 7101;
const PRODUCTS = [7101, 7102];

let context;
let page;
let sims;

const panel = () => page.frameLocator('#panel-frame');
const modal = () => page.frameLocator('#modal-frame');
const qbInvoices = async () => (await json(`${sims.quickbooks_url}/_sim/realms/${REALM}/invoices`)).body.Invoice || [];

/** "1.000,01 USD" (de_DE, as Anna reads it) → "1000.01". */
const plain = (text) => text.replace(/\s*USD$/, '').replace(/\./g, '').replace(',', '.').trim();
const fixed = (value) => Number(value).toFixed(2);

async function seedDeal() {
  const pd = (path, method, body) => send(`${sims.pipedrive_url}/_sim/companies/${COMPANY}${path}`, method, body);
  let r = await pd('/organizations', 'PUT', { id: ORG, name: 'Milestone Builders LLC' });
  assert.ok(r.status < 300, JSON.stringify(r.body));
  for (const [i, id] of PRODUCTS.entries()) {
    r = await pd('/products', 'PUT', { id, name: i === 0 ? 'Design phase' : 'Build phase' });
    assert.ok(r.status < 300, JSON.stringify(r.body));
  }
  r = await pd('/deals', 'PUT', {
    id: DEAL, title: 'Clinic fit-out (progress billing)', currency: 'USD', value: 1000.01, org_id: ORG, status: 'open',
  });
  assert.ok(r.status < 300, JSON.stringify(r.body));
  const lines = [[PRODUCTS[0], 'Design phase', 3, 200], [PRODUCTS[1], 'Build phase', 1, 400.01]];
  for (const [i, [product, name, quantity, price]] of lines.entries()) {
    r = await pd(`/deals/${DEAL}/products`, 'POST', {
      id: DEAL * 10 + i, product_id: product, name, quantity, item_price: price, tax: 0, tax_method: 'exclusive', is_enabled: true, order_nr: i,
    });
    assert.ok(r.status < 300, JSON.stringify(r.body));
  }
  // The deal's customer and the products' items, linked as a rep would in the modal.
  const headers = await bearer(COMPANY, USER);
  const made = await json(`${BASE}/api/quickbooks/customers`, {
    method: 'POST', headers, body: JSON.stringify({ deal_id: DEAL, display_name: 'Milestone Builders LLC', currency: 'USD' }),
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const items = (await json(`${sims.quickbooks_url}/_sim/realms/${REALM}/items`)).body;
  const service = items.find((i) => i.Type === 'Service' && i.Active !== false) || items[0];
  for (const product of PRODUCTS) {
    const linked = await json(`${BASE}/api/products/${product}/item-link`, { method: 'PUT', headers, body: JSON.stringify({ item_id: service.Id }) });
    assert.equal(linked.status, 200, JSON.stringify(linked.body));
  }
}

before(async () => {
  ({ sims, context, page } = await repSession({ fresh: true }));
  await seedDeal();
});

after(async () => {
  if (context) await context.close();
});

async function openModal() {
  await page.goto(`${BASE}/_local/deal/${DEAL}?modal_width=720`);
  await panel().locator('#create-invoice').click();
  await page.locator('#modal-backdrop:not([hidden])').waitFor();
  const m = modal();
  await m.locator('#invoice-form').waitFor();
  return m;
}

async function createdAndClosed(count) {
  await page.locator('#modal-backdrop[hidden]').waitFor({ state: 'attached' });
  const deadline = Date.now() + 10000;
  while ((await qbInvoices()).length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await qbInvoices()).length, count);
}

/** The panel's figures against the store's (the list route reads them from the store). */
async function panelEqualsStore() {
  await page.goto(`${BASE}/_local/deal/${DEAL}`);
  const section = panel().locator('#billing-progress');
  await section.waitFor();
  const listing = await json(`${BASE}/api/deals/${DEAL}/invoices`, { headers: await bearer(COMPANY, USER) });
  assert.equal(listing.status, 200, JSON.stringify(listing.body));
  const [store] = listing.body.progress;
  for (const figure of ['deal_value', 'invoiced', 'paid', 'left']) {
    const text = await section.locator(`dd[data-figure="${figure}"]`).textContent();
    assert.equal(plain(text), fixed(store[figure]), `${figure}: the panel shows ${text}, the store ${store[figure]}`);
  }
  const label = await section.locator('.bar').getAttribute('aria-label');
  assert.match(label, /invoiced/);
  return store;
}

test('a 30 % deposit, then the rest: the panel\'s progress equals the store\'s, to the cent', async () => {
  const before = (await qbInvoices()).length;
  let m = await openModal();
  assert.match(await m.locator('#part-progress').textContent(), /1\.000,01 USD/);
  await m.locator('#part-mode-percentage').check();
  await m.locator('#part-percent').fill('30');
  assert.equal(await m.locator('#create').textContent(), 'Create deposit invoice');
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'progress-modal-720-deposit.png') });
  assert.deepEqual(await clippedIn(page.frames().find((f) => f.url().includes('/ui/modal'))), []);
  await m.locator('#create').click();
  await createdAndClosed(before + 1);

  let store = await panelEqualsStore();
  assert.equal(fixed(store.invoiced), '300.00');
  assert.equal(fixed(store.left), '700.01');
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'progress-panel-320-deposit.png') });
  assert.deepEqual(await clippedIn(page.frames().find((f) => f.url().includes('/ui/panel'))), []);

  m = await openModal();
  // Part of the deal is invoiced: the modal opens on the rest (the whole deal again would be an
  // over-invoice).
  assert.equal(await m.locator('#part-mode-rest').isChecked(), true);
  assert.match(await m.locator('label[for="part-mode-rest"]').textContent(), /700,01 USD/);
  assert.equal(await m.locator('#create').textContent(), 'Invoice the rest');
  await m.locator('#create').click();
  await createdAndClosed(before + 2);

  store = await panelEqualsStore();
  assert.equal(fixed(store.invoiced), '1000.01');
  assert.equal(fixed(store.left), '0.00');
  const totals = (await qbInvoices()).slice(-2).map((i) => Math.round(i.TotalAmt * 100));
  assert.equal(totals[0] + totals[1], 100001, 'QuickBooks\' two invoices add up to the deal');
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'progress-panel-320-rest.png') });
});

test('more than what is left is refused in the page with how much is left, and made when confirmed', async () => {
  const before = (await qbInvoices()).length;
  const m = await openModal();
  await m.locator('#part-mode-amount').check();
  await m.locator('#part-amount').fill('100');
  await m.locator('#create').click();
  await page.locator('#confirm[open]').waitFor();
  assert.match(await page.textContent('#confirm-text'), /Nothing is left to invoice on this deal/);
  await page.click('#confirm-cancel');
  const box = m.locator('#form-errors');
  await box.locator('li.error').waitFor();
  assert.match(await box.textContent(), /Nothing is left to invoice on this deal: its value is 1\.000,01 USD and 1\.000,01 USD is invoiced\. This invoice would bill 100,00 USD/);
  assert.equal((await qbInvoices()).length, before, 'nothing sent');
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'progress-modal-720-refused.png') });
  // Keyboard: the choices are radios of one group, reached and changed with the keyboard.
  await m.locator('#part-mode-whole').focus();
  await page.keyboard.press('ArrowDown');
  assert.equal(await m.locator('#part-mode-percentage').isChecked(), true);
  // The rep confirms: the over-invoice is made, and the panel says by how much.
  await m.locator('#part-mode-amount').check();
  await m.locator('#part-amount').fill('100');
  await m.locator('#create').click();
  await page.locator('#confirm[open]').waitFor();
  await page.click('#confirm-ok');
  await createdAndClosed(before + 1);
  const store = await panelEqualsStore();
  assert.equal(fixed(store.over_invoiced), '100.00');
  const over = await panel().locator('#billing-progress dd[data-figure="over_invoiced"]').textContent();
  assert.equal(plain(over), '100.00');
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'progress-panel-320-over.png') });
});

test('chosen lines and quantities: a quantity over the line\'s is refused in the page, then the line is invoiced', async () => {
  const before = (await qbInvoices()).length;
  const m = await openModal();
  await m.locator('#part-mode-lines').check();
  const build = m.getByRole('checkbox', { name: 'Build phase' });
  await build.check();
  const quantity = m.getByRole('textbox', { name: /Quantity of Build phase to invoice/ });
  await quantity.fill('2');
  assert.equal(await m.locator('#create').textContent(), 'Invoice the chosen lines');
  await m.locator('#create').click();
  const error = m.locator('#part-section .field-error');
  await error.waitFor();
  assert.equal(await error.textContent(), 'Line 2 (Build phase): the quantity to invoice is more than 0 and at most the deal\'s 1, not 2.');
  assert.equal((await qbInvoices()).length, before, 'nothing sent');
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'progress-modal-720-lines.png') });
  await quantity.fill('1');
  await m.locator('#create').click();
  // The deal is fully invoiced by now: the rep confirms the over-invoice.
  await page.locator('#confirm[open]').waitFor();
  await page.click('#confirm-ok');
  await createdAndClosed(before + 1);
  const made = (await qbInvoices()).at(-1);
  const sales = made.Line.filter((l) => l.DetailType === 'SalesItemLineDetail');
  assert.equal(sales.length, 1);
  assert.equal(fixed(sales[0].Amount), '400.01');
  await panelEqualsStore();
});
