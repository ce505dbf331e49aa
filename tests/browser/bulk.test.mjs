// Bulk invoicing from the deals list view, clicked through in Chromium against `cargo run -p
// local`: Anna Admin selects three deals in the stand-in's list view and opens "Bulk invoice"
// (the app's custom modal, 720 px, the selection in `selectedIds`). One deal is ready, one needs
// an item linked — fixed inline in the modal — and one has no organisation or person. The run
// invoices the two ready deals with live progress and shows each deal's result: a link to the
// invoice, or why not. Then the same deals again with "Create: Estimates" chosen by keyboard: an
// estimate for each ready deal, "Estimate #… created", and none twice on a second run.
// Screenshots: artifacts/browser/bulk-720.png, bulk-estimates-720.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ARTIFACTS, BASE, bearer, clippedIn, json, REP, REP_REALM, repSession, send,
} from './lib.mjs';

const { company: COMPANY, user: USER } = REP;
const READY = 9101;
const NEEDS_ITEM = 9102;
const NO_PARTY = 9103;

let context;
let page;
let sims;

const modal = () => page.frameLocator('#modal-frame');
const modalFrame = () => page.frames().find((f) => f.url().includes('/ui/bulk'));
const qbInvoices = async () => (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/invoices`)).body.Invoice || [];
const qbEstimates = async () => (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/estimates`)).body.Estimate || [];

/** Three deals of Acme in the simulated Pipedrive (see the file's comment). */
async function seedDeals() {
  const pd = (path, method, body) => send(`${sims.pipedrive_url}/_sim/companies/${COMPANY}${path}`, method, body);
  const ok = (answer) => assert.ok(answer.status < 300, JSON.stringify(answer.body));
  ok(await pd('/organizations', 'PUT', { id: 51, name: 'Sonnenhof Kellerei GmbH' }));
  ok(await pd('/products', 'PUT', { id: 60, name: 'Barrel tasting' }));
  ok(await pd('/products', 'PUT', { id: 61, name: 'Cellar tour' }));
  const deal = (id, title, org) => ({
    id, title, currency: 'EUR', org_id: org, person_id: null, pipeline_id: 1, stage_id: 1, status: 'won',
    add_time: '2026-01-05T09:00:00Z', update_time: '2026-01-05T09:00:00Z', value: 100,
  });
  const line = (id, product, name, quantity) => ({
    id, product_id: product, name, quantity, item_price: 45, tax: 0, tax_method: 'none', is_enabled: true, order_nr: 1,
  });
  for (const [id, title, org, product, name] of [
    [READY, 'Cellar tours for the spring', 51, 61, 'Cellar tour'],
    [NEEDS_ITEM, 'Barrel tasting evening', 51, 60, 'Barrel tasting'],
    [NO_PARTY, 'Walk-in tasting', null, 61, 'Cellar tour'],
  ]) {
    ok(await pd('/deals', 'PUT', deal(id, title, org)));
    ok(await pd(`/deals/${id}/products`, 'POST', line(id * 10, product, name, id - 9100)));
  }
  // The organisation's QuickBooks customer, and the cellar tour's item, linked beforehand.
  const headers = await bearer(COMPANY, USER);
  const call = (method, path, body) => json(`${BASE}${path}`, { method, headers, body: JSON.stringify(body) });
  const made = await call('POST', '/api/quickbooks/customers', { deal_id: READY, display_name: 'Sonnenhof Kellerei GmbH', currency: 'EUR' });
  if (made.status === 409) {
    await call('PUT', `/api/deals/${READY}/customer-link`, { customer_id: made.body.current.customer.id, update_customer: false });
  } else {
    assert.equal(made.status, 201, JSON.stringify(made.body));
  }
  ok(await call('PUT', '/api/products/61/item-link', { item_id: '3' }));
}

before(async () => {
  ({ sims, context, page } = await repSession());
  await seedDeals();
});

after(async () => {
  if (context) await context.close();
});

test('select deals in the list view, fix a blocker inline, run the batch, see each result', async () => {
  const before = (await qbInvoices()).length;
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(`${BASE}/_local/deals`);
  for (const id of [READY, NEEDS_ITEM, NO_PARTY]) await page.check(`#select-${id}`);
  assert.equal(await page.textContent('#selected-count'), '3 selected');
  await page.click('#bulk-invoice');
  await page.locator('#modal-backdrop:not([hidden])').waitFor();
  const m = modal();
  assert.match(await page.getAttribute('#modal-frame', 'src'), new RegExp(`selectedIds=${READY}%2C${NEEDS_ITEM}%2C${NO_PARTY}`));

  // Readiness: one ready, one needing an item (with its fix), one without a party.
  await m.locator('#progress', { hasText: '1 of 3 selected deals are ready' }).waitFor();
  const row = (id) => m.locator(`tr[data-deal="${id}"]`);
  await row(READY).locator('.ready').waitFor();
  await row(NEEDS_ITEM).locator('p.blocker', { hasText: 'Barrel tasting' }).waitFor();
  assert.match(await row(NO_PARTY).textContent(), /no organization or person|no organisation or person/i);
  assert.equal(await row(NO_PARTY).locator('button[data-fix]').count(), 0, 'no inline fix for a missing party');

  // The fix, inline: link the product to a QuickBooks item.
  await row(NEEDS_ITEM).locator('button[data-fix="item"]').click();
  await m.locator('#fix-results button').first().waitFor();
  assert.deepEqual(await clippedIn(modalFrame()), []);
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'bulk-fix-720.png') });
  await m.locator('#fix-results button').first().click();
  await row(NEEDS_ITEM).locator('.ready').waitFor();
  await m.locator('#progress', { hasText: '2 of 3 selected deals are ready' }).waitFor();

  // The run: live progress, then each deal's result.
  await m.locator('#run', { hasText: 'Invoice 2 ready deals' }).click();
  await m.locator('#progress', { hasText: '3 of 3 done: 2 invoiced, 1 not invoiced' }).waitFor({ timeout: 30000 });
  for (const id of [READY, NEEDS_ITEM]) {
    const link = row(id).locator('a.result.created');
    await link.waitFor();
    assert.match(await link.textContent(), /^Invoice /);
    assert.match(await link.getAttribute('href'), /invoice|txnId=/i);
  }
  assert.match(await row(NO_PARTY).textContent(), /organi[sz]ation or person/i);
  assert.equal((await qbInvoices()).length, before + 2, 'exactly the two ready deals were invoiced');

  // Fits a 720 px modal: nothing clipped, nothing scrolls sideways.
  const width = await page.evaluate(() => document.getElementById('modal-frame').getBoundingClientRect().width);
  assert.ok(Math.abs(width - 720) < 2, `the modal is 720 px wide (${width})`);
  assert.deepEqual(await clippedIn(modalFrame()), []);
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'bulk-720.png') });

  // Run again (a second click, or the tab reopened): nothing is created twice.
  await page.click('#modal-close');
  await page.click('#bulk-invoice');
  await m.locator(`tr[data-deal="${READY}"]`).waitFor();
  await m.locator('#progress', { hasText: '2 of 3 selected deals are ready' }).waitFor();
  await m.locator('#run').click();
  await m.locator('#progress', { hasText: '3 of 3 done: 2 invoiced' }).waitFor({ timeout: 30000 });
  await row(READY).locator('a.result.created').waitFor();
  assert.equal((await qbInvoices()).length, before + 2, 'the same batch again: no second invoice');
});

test('the same deals with "Create: Estimates" chosen by keyboard: an estimate for each ready deal, once', async () => {
  // The barrel tasting's item (linked inline by the test above; linked here when run alone).
  const headers = await bearer(COMPANY, USER);
  const linked = await json(`${BASE}/api/products/60/item-link`, { method: 'PUT', headers, body: JSON.stringify({ item_id: '3' }) });
  assert.ok(linked.status < 300, JSON.stringify(linked.body));
  const estimatesBefore = (await qbEstimates()).length;
  const invoicesBefore = (await qbInvoices()).length;
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(`${BASE}/_local/deals`);
  for (const id of [READY, NEEDS_ITEM, NO_PARTY]) await page.check(`#select-${id}`);
  await page.click('#bulk-invoice');
  await page.locator('#modal-backdrop:not([hidden])').waitFor();
  const m = modal();
  const row = (id) => m.locator(`tr[data-deal="${id}"]`);
  await m.locator('#progress', { hasText: '2 of 3 selected deals are ready' }).waitFor();

  // The choice, by keyboard: a labelled radio group before the run.
  assert.equal(await m.locator('#document legend').textContent(), 'Create:');
  assert.ok(await m.getByLabel('Invoices').isChecked(), 'invoices unless chosen');
  await m.getByLabel('Invoices').focus();
  await page.keyboard.press('ArrowRight');
  await m.locator('#run', { hasText: 'Create estimates for 2 ready deals' }).waitFor();
  assert.ok(await m.getByLabel('Estimates').isChecked());
  assert.equal(await modalFrame().evaluate(() => document.activeElement.id), 'document-estimate', 'focus stays on the choice');

  await m.locator('#run').click();
  await m.locator('#progress', { hasText: '3 of 3 done: 2 estimates created, 1 without an estimate' }).waitFor({ timeout: 30000 });
  for (const id of [READY, NEEDS_ITEM]) {
    const link = row(id).locator('a.result.created');
    await link.waitFor();
    assert.match(await link.textContent(), /^Estimate #?\S+ created · /);
    assert.match(await link.getAttribute('href'), /estimate/i);
  }
  assert.match(await row(NO_PARTY).textContent(), /organi[sz]ation or person/i);
  assert.equal((await qbEstimates()).length, estimatesBefore + 2, 'an estimate for exactly the two ready deals');
  assert.equal((await qbInvoices()).length, invoicesBefore, 'no invoice');
  assert.deepEqual(await clippedIn(modalFrame()), []);
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'bulk-estimates-720.png') });

  // Run again (the modal reopened, Estimates chosen again): the same batch, nothing twice.
  await page.click('#modal-close');
  await page.click('#bulk-invoice');
  await m.locator('#progress', { hasText: '2 of 3 selected deals are ready' }).waitFor();
  await m.getByLabel('Estimates').check();
  await m.locator('#run', { hasText: 'Create estimates for 2 ready deals' }).click();
  await m.locator('#progress', { hasText: '3 of 3 done: 2 estimates created' }).waitFor({ timeout: 30000 });
  await row(READY).locator('a.result.created', { hasText: 'Estimate' }).waitFor();
  assert.equal((await qbEstimates()).length, estimatesBefore + 2, 'the same batch again: no second estimate');
});
