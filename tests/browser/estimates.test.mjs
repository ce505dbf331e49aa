// Estimates in the pages (issue 22): the panel's "+ Estimate" opens the create form in its
// estimate mode (the same draft), the estimate appears in the panel's Estimates section as
// Pending, the rep marks it Accepted from the panel (QuickBooks' estimate says so too), then
// invoices it ("Invoice it", by keyboard): the invoice appears on the deal, linked to the
// estimate in QuickBooks, and the estimate shows Closed.
// Then another accepted estimate in parts: 30 % ("Invoice part…", by keyboard), the figures
// "Invoiced X of Y · Z left" in the rep's number format, an amount over what is left refused in a
// sentence next to the form with "Invoice anyway" offered, then the rest: the estimate Closed,
// the two invoices adding up to it.
// The part form survives the panel re-reading the store while the rep types (the poll): it stays
// open with the number, the focus and the caret.
// Screenshots: artifacts/browser/estimates-panel-320.png, estimates-accepted-panel-320.png,
// estimates-part-panel-320.png.

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

/** A new estimate of deal 1 (through the API), accepted by the customer: its id. */
async function acceptedEstimate() {
  await readyDeal();
  const headers = await bearer(COMPANY, USER);
  const call = (method, path, body, extra = {}) => json(`${BASE}${path}`, { method, headers: { ...headers, ...extra }, body: body && JSON.stringify(body) });
  const form = (await call('GET', '/api/deals/1/draft')).body.form;
  form.txn_tax_code = form.txn_tax_code || '2';
  const created = await call('POST', '/api/deals/1/estimates', form, { 'Idempotency-Key': `estimate-part-${Date.now()}` });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.estimate.estimate_id;
  const accepted = await call('POST', `/api/deals/1/estimates/${id}/answer`, { answer: 'accepted' });
  assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
  return id;
}

/** The sum of a QuickBooks invoice's sales lines (before tax), in cents. */
const salesCents = (invoice) => invoice.Line
  .filter((l) => l.DetailType === 'SalesItemLineDetail')
  .reduce((sum, l) => sum + Math.round(l.Amount * 100), 0);

test('invoice an accepted estimate in parts from the panel: 30 %, then the rest', async () => {
  const id = await acceptedEstimate();
  const qbEstimate = (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/estimates/${id}`)).body;
  const lines = qbEstimate.Line;
  const cents = (type) => lines.filter((l) => l.DetailType === type).reduce((s, l) => s + Math.round(l.Amount * 100), 0);
  const basis = cents('SalesItemLineDetail') - cents('DiscountLineDetail');
  const thirty = Math.round(basis * 0.3);

  await page.goto(`${BASE}/_local/deal/1`);
  const row = panel().locator(`li.estimate[data-estimate-id="${id}"][data-status="accepted"]`);
  await row.waitFor();
  assert.equal(await row.locator('.estimate-billing').count(), 0, 'nothing invoiced of it yet: no figures');

  // Keyboard: open "Invoice part…", Percentage is chosen, type 30, Enter.
  const toggle = row.locator('button[data-action="invoice-part"]');
  assert.match(await toggle.getAttribute('aria-label'), /^Invoice part of estimate /);
  await toggle.focus();
  await page.keyboard.press('Enter');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  const form = row.locator('form.part-form');
  await form.waitFor();
  assert.equal(await form.locator(`#part-${id}-percentage`).isChecked(), true);
  assert.equal(await form.locator(`label[for="part-${id}-value"]`).textContent(), 'Percentage of the estimate (%)');
  await form.locator(`#part-${id}-value`).fill('30');
  // The panel reads the store again while it is open (every 15 s): the form it re-renders stays
  // open with the number typed, and the focus and caret stay in the field.
  const field = panel().locator(`#part-${id}-value`);
  await panel().locator(`#part-${id}-form`).evaluate((f) => { f.dataset.before = 'poll'; });
  await panel().locator(`#part-${id}-form:not([data-before])`).waitFor({ state: 'attached', timeout: 25000 });
  assert.equal(await panel().locator(`#part-${id}-form`).isVisible(), true, 'the form stays open across a re-render');
  assert.equal(await field.inputValue(), '30');
  assert.equal(await field.evaluate((el) => el === document.activeElement && el.selectionStart === 2), true,
    'the focus and the caret stay in the field');
  await page.keyboard.press('Enter');
  const billing = panel().locator(`li.estimate[data-estimate-id="${id}"] .estimate-billing`);
  await billing.waitFor({ timeout: 15000 });
  assert.equal(Math.round(Number(await billing.getAttribute('data-invoiced')) * 100), thirty);
  assert.equal(Math.round(Number(await billing.getAttribute('data-left')) * 100), basis - thirty);
  // The rep's number format (de_DE: 1.234,56 EUR).
  assert.match(await billing.textContent(), /^Invoiced [\d.]+,\d\d [A-Z]{3} of [\d.]+,\d\d [A-Z]{3} · [\d.]+,\d\d [A-Z]{3} left$/);
  const stillOpen = (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/estimates/${id}`)).body;
  assert.equal(stillOpen.TxnStatus, 'Accepted', 'a part leaves the estimate open in QuickBooks');

  // An amount over what is left: the sentence next to the form, "Invoice anyway" offered.
  const again = panel().locator(`li.estimate[data-estimate-id="${id}"]`);
  assert.equal(await again.locator('button[data-action="invoice"]').textContent(), 'Invoice the rest');
  await again.locator('button[data-action="invoice-part"]').click();
  await again.locator(`#part-${id}-amount`).check();
  assert.match(await again.locator(`label[for="part-${id}-value"]`).textContent(), /^Amount before tax \([A-Z]{3}\)$/);
  await again.locator(`#part-${id}-value`).fill('9999999');
  await again.locator(`#part-${id}-submit`).click();
  const error = again.locator(`#part-${id}-error`);
  await again.locator(`#part-${id}-anyway:not([hidden])`).waitFor();
  assert.match(await error.textContent(), /^Only .+ is left to invoice of Estimate .+ lower it, or confirm to invoice more than what is left\.$/);
  assert.equal(await again.locator(`#part-${id}-anyway`).evaluate((b) => b === document.activeElement), true,
    '"Invoice anyway" takes the focus');
  assert.equal(await page.locator('#panel-frame').evaluate((f) => f.getBoundingClientRect().width), 320);
  assert.deepEqual(await clippedIn(frameOf('/ui/panel')), [], 'clipped in the panel with the part form open');
  await again.scrollIntoViewIfNeeded();
  await page.locator('#panel-frame').screenshot({ path: join(ARTIFACTS, 'estimates-part-panel-320.png') });

  // The rest instead: exactly what is left; the estimate closes.
  await again.locator(`#part-${id}-rest`).check();
  assert.equal(await again.locator(`#part-${id}-value`).isVisible(), false, 'the rest needs no value');
  await again.locator(`#part-${id}-submit`).focus();
  await page.keyboard.press('Enter');
  await panel().locator(`li.estimate[data-estimate-id="${id}"][data-status="closed"]`).waitFor({ timeout: 15000 });
  const done = panel().locator(`li.estimate[data-estimate-id="${id}"] .estimate-billing`);
  assert.equal(Math.round(Number(await done.getAttribute('data-invoiced')) * 100), basis);
  assert.equal(Number(await done.getAttribute('data-left')), 0);
  assert.equal(await panel().locator(`li.estimate[data-estimate-id="${id}"] button[data-action="invoice-part"]`).count(), 0,
    'a closed estimate offers no part');
  const closed = (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/estimates/${id}`)).body;
  assert.equal(closed.TxnStatus, 'Closed');
  const invoices = (await json(`${sims.quickbooks_url}/_sim/realms/${REP_REALM}/invoices`)).body;
  const list = Array.isArray(invoices) ? invoices : (invoices.invoices || invoices.Invoice || []);
  const ofIt = list.filter((i) => (i.Line || []).some((l) => (l.Description || '').includes(`of Estimate #${qbEstimate.DocNumber}`)));
  assert.equal(ofIt.length, 2, 'the 30 % and the rest');
  assert.equal(ofIt.reduce((s, i) => s + salesCents(i), 0), basis, 'they add up to the estimate exactly');
  const linked = ofIt.filter((i) => (i.LinkedTxn || []).some((t) => t.TxnType === 'Estimate' && t.TxnId === id));
  assert.equal(linked.length, 1, 'only the rest links the estimate');
  assert.deepEqual(await clippedIn(frameOf('/ui/panel')), [], 'clipped in the panel after the rest');
});
