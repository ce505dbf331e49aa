// Estimates in the pages (issue 22): the panel's "+ Estimate" opens the create form in its
// estimate mode (the same draft), the estimate appears in the panel's Estimates section as
// Pending, the rep marks it Accepted from the panel (QuickBooks' estimate says so too), then
// invoices it ("Invoice it", by keyboard): the invoice appears on the deal, linked to the
// estimate in QuickBooks, and the estimate shows Closed.
// Screenshots: artifacts/browser/estimates-panel-320.png, estimates-accepted-panel-320.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ARTIFACTS, BASE, bearer, clippedIn, json, REP, REP_REALM, repSession,
} from './lib.mjs';

const { company: COMPANY, user: USER } = REP;

let context;
let page;
let sims;

const frameOf = (part) => page.frames().find((f) => f.url().includes(part));
const panel = () => page.frameLocator('#panel-frame');
const modal = () => page.frameLocator('#modal-frame');

/** Deal 1 ready to invoice: its customer and its products' items linked. */
async function readyDeal() {
  const headers = await bearer(COMPANY, USER);
  const call = (method, path, body) => json(`${BASE}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const draft = (await call('GET', '/api/deals/1/draft')).body;
  if (!draft.form.customer_id) {
    const made = await call('POST', '/api/quickbooks/customers', { deal_id: 1, display_name: 'Estimates Test GmbH', currency: 'EUR' });
    if (made.status === 409) {
      await call('PUT', '/api/deals/1/customer-link', { customer_id: made.body.current.customer.id, update_customer: false });
    }
  }
  for (const product of [1, 2, 3]) await call('PUT', `/api/products/${product}/item-link`, { item_id: '3' });
}

before(async () => {
  ({ sims, context, page } = await repSession());
});

after(async () => {
  if (context) await context.close();
});

test('create an estimate from the panel, mark it accepted and invoice it', async () => {
  await readyDeal();
  await page.goto(`${BASE}/_local/deal/1`);
  await panel().locator('#estimates').waitFor();
  const before = await panel().locator('li.estimate').count();
  await panel().locator('#create-estimate').click();
  await modal().locator('#invoice-form').waitFor();
  assert.equal(await modal().locator('#kind-estimate').isChecked(), true, 'the form opens in its estimate mode');
  assert.match(await modal().locator('#create').textContent(), /Create estimate/);
  assert.equal(await modal().locator('#part-section').count(), 0, 'an estimate quotes the whole deal: no "What to invoice"');
  await modal().locator('#kind-invoice').check();
  await modal().locator('#part-section').waitFor();
  await modal().locator('#kind-estimate').check();
  await modal().locator('#part-section').waitFor({ state: 'detached' });
  assert.match(await modal().locator('#create').textContent(), /Create estimate/);
  const tax = modal().locator('#txn-tax-code');
  if (await tax.count() && !(await tax.inputValue())) await tax.selectOption({ index: 1 });
  await modal().locator('#create').click();
  await page.locator('#modal-backdrop[hidden]').waitFor({ state: 'attached', timeout: 15000 });

  await page.goto(`${BASE}/_local/deal/1`);
  const rows = panel().locator('li.estimate');
  await rows.nth(before).waitFor();
  const row = panel().locator('li.estimate[data-status="pending"]').first();
  await row.waitFor();
  const id = await row.getAttribute('data-estimate-id');
  // Keyboard: the answer buttons are real buttons with names.
  const accept = row.locator('button[data-action="accept"]');
  assert.match(await accept.getAttribute('aria-label'), /^Accepted estimate /);
  await accept.focus();
  await page.keyboard.press('Enter');
  await panel().locator(`li.estimate[data-estimate-id="${id}"][data-status="accepted"]`).waitFor();
  const estimate = (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/estimates/${id}`)).body;
  assert.equal(estimate.TxnStatus, 'Accepted');

  // Convert it: the button is on the accepted estimate only, named, keyboard-usable.
  const accepted = panel().locator(`li.estimate[data-estimate-id="${id}"]`);
  const invoiceIt = accepted.locator('button[data-action="invoice"]');
  assert.match(await invoiceIt.getAttribute('aria-label'), /^Invoice it estimate /);
  assert.deepEqual(await clippedIn(frameOf('/ui/panel')), [], 'clipped in the panel with "Invoice it"');
  await accepted.scrollIntoViewIfNeeded();
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'estimates-accepted-panel-320.png') });
  const invoicesBefore = await panel().locator('li.invoice').count();
  await page.evaluate(() => document.getElementById('snackbars').replaceChildren());
  await invoiceIt.focus();
  await page.keyboard.press('Enter');
  await panel().locator(`li.estimate[data-estimate-id="${id}"][data-status="closed"]`).waitFor({ timeout: 15000 });
  await page.locator('#snackbars .snackbar', { hasText: 'created from estimate' }).first().waitFor();
  assert.equal(await panel().locator(`li.estimate[data-estimate-id="${id}"] button[data-action="invoice"]`).count(), 0,
    'a closed estimate offers no second invoice');
  await panel().locator('li.invoice').nth(invoicesBefore).waitFor();
  const closed = (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/estimates/${id}`)).body;
  assert.equal(closed.TxnStatus, 'Closed');
  const invoiceId = closed.LinkedTxn.find((t) => t.TxnType === 'Invoice').TxnId;
  await panel().locator(`li.invoice[data-invoice-id="${invoiceId}"]`).waitFor();
  const invoice = (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/invoices/${invoiceId}`)).body;
  assert.deepEqual(invoice.LinkedTxn.filter((t) => t.TxnType === 'Estimate').map((t) => t.TxnId), [id]);

  assert.equal(await page.locator('#panel-frame').evaluate((f) => f.getBoundingClientRect().width), 320);
  assert.deepEqual(await clippedIn(frameOf('/ui/panel')), [], 'clipped in the panel');
  await panel().locator('#estimates').scrollIntoViewIfNeeded();
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'estimates-panel-320.png') });
});
