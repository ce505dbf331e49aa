// A day in the rep's seat (issue 20), clicked through in Chromium against `cargo run -p local`:
// Anna Admin of Acme Analytics (Pipedrive locale de_DE) on a QuickBooks company of her own (a US
// company with multi-currency, seeded for these tests). Each test is one thing a person notices:
// the tax rate suggested by the products' rate, the due date following the invoice date, words
// found anywhere, first results on focus, an item made from a product, one link for every line of
// a product, Enter that never deletes and a removal that can be undone, errors in view while the
// form says it is busy, another currency only at a confirmed rate, the choice a taken name offers,
// an inactive customer reactivated, the question before a duplicate, sending to a typed address,
// the panel following a webhook, one money format (the user's) in the pages and the messages, and
// settings answered in the page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ARTIFACTS, BASE, bearer, json, REP, REP_REALM, repSession, send,
} from './lib.mjs';

const { company: COMPANY, user: USER } = REP; // Acme Analytics (EUR), Anna Admin (de_DE)
/** A US company with multi-currency (USD home; EUR 1.09, GBP 1.27), only these tests use it. */
const REALM = REP_REALM;

let context;
let page;
let sims;

const qb = (path) => json(`${sims.quickbooks_url}${path}`);
const qbInvoices = async () => (await qb(`/_sim/realms/${REALM}/invoices`)).body.Invoice || [];
const qbCustomers = async () => (await qb(`/_sim/realms/${REALM}/customers`)).body;
const panel = () => page.frameLocator('#panel-frame');
const modal = () => page.frameLocator('#modal-frame');
const modalFrame = () => page.frames().find((f) => f.url().includes('/ui/modal'));

before(async () => {
  ({ sims, context, page } = await repSession({ fresh: true }));
});

after(async () => {
  if (context) await context.close();
});

async function snackbar(text) {
  await page.locator('#snackbars .snackbar', { hasText: text }).first().waitFor();
}

async function clearSnackbars() {
  await page.evaluate(() => document.getElementById('snackbars').replaceChildren());
}

/** Opens deal `id` and its create modal; resolves when the form is there. */
async function openModal(id) {
  await page.goto(`${BASE}/_local/deal/${id}`);
  await clearSnackbars();
  try {
    await panel().locator('#create-invoice').click({ timeout: 10000 });
  } catch (e) {
    await page.screenshot({ path: join(ARTIFACTS, `debug-deal-${id}.png`), fullPage: true });
    console.log('PANEL', await page.frameLocator('#panel-frame').locator('body').innerHTML().catch((x) => x.message));
    throw e;
  }
  await page.locator('#modal-backdrop:not([hidden])').waitFor();
  await modal().locator('#invoice-form').waitFor();
  return modal();
}

async function closeModal() {
  await page.click('#modal-close');
  await page.locator('#modal-backdrop[hidden]').waitFor({ state: 'attached' });
}

/** Links a line's item by searching a word of its name (unless a product link already did). */
async function linkLine(m, index, word, itemName) {
  const line = m.locator('li.line').nth(index);
  if (await line.locator('.linked').count()) return;
  await line.locator('input[type="search"]').fill(word);
  await line.locator('input[type="search"]').press('Enter');
  await line.locator('.results button', { hasText: `Use ${itemName}` }).first().click();
  await m.locator('li.line').nth(index).locator('.linked', { hasText: itemName }).waitFor();
}

test('no sales tax rate is pre-selected when none has the products\' rate, and the form says why', async () => {
  const m = await openModal(1); // 19 % VAT products; the company's rates are 8, 9.1 and 8.25 %
  assert.equal(await m.locator('#txn-tax-code').inputValue(), '', 'California (8 %) is not pre-selected');
  assert.match(await m.locator('#txn-tax-code-hint').textContent(), /19 %/);
  await m.locator('#txn-tax-code').selectOption('2');
  await m.locator('#txn-tax-code-hint').waitFor({ state: 'detached' });
  await closeModal();
});

test('the due date follows the invoice date', async () => {
  const m = await openModal(1);
  const dateOf = async (id) => m.locator(id).inputValue();
  const issue = await dateOf('#txn-date');
  const due = await dateOf('#due-date');
  const days = (Date.parse(due) - Date.parse(issue)) / 86400000;
  assert.equal(days, 14, 'the settings\' 14 days');
  await m.locator('#txn-date').fill('2031-01-20');
  assert.equal(await dateOf('#due-date'), '2031-02-03');
  await closeModal();
});

test('search finds words anywhere, and shows the first results on focus', async () => {
  const m = await openModal(1);
  await m.locator('#customer-search').focus();
  await m.locator('#customer-results button').first().waitFor();
  assert.ok((await m.locator('#customer-results button').count()) > 0, 'recent customers without typing');
  const frame = modalFrame();
  const only = (selector) => frame.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, selector);
  await m.locator('#customer-search').fill('Brien');
  await m.locator('#customer-search').press('Enter');
  await only('#customer-results button');
  assert.match(await m.locator('#customer-results button').textContent(), /O'Brien & Sons/);
  const line = m.locator('li.line').first();
  const key = await line.getAttribute('data-key');
  await line.locator('input[type="search"]').focus();
  await line.locator('.results button').first().waitFor();
  assert.ok((await line.locator('.results button').count()) > 1, 'the first items without typing');
  await line.locator('input[type="search"]').fill('ountain');
  await line.locator('input[type="search"]').press('Enter');
  await only(`#line-${key}-results button`);
  assert.match(await line.locator('.results button').textContent(), /Use Rock Fountain/);
  await closeModal();
});

test('a missing QuickBooks item is created from the Pipedrive product, then linked', async () => {
  const m = await openModal(1);
  const line = m.locator('li.line').first(); // Consulting hour (CONS-HR)
  await line.getByRole('button', { name: /Create “Consulting hour” in QuickBooks/ }).click();
  const key = await line.getAttribute('data-key');
  await m.locator(`#line-${key}-new-name`).waitFor();
  assert.equal(await m.locator(`#line-${key}-new-name`).inputValue(), 'Consulting hour');
  assert.equal(await m.locator(`#line-${key}-new-sku`).inputValue(), 'CONS-HR');
  const accounts = await m.locator(`#line-${key}-new-account option`).allTextContents();
  assert.ok(accounts.includes('Sales of Product Income'), accounts.join(', '));
  await m.locator(`#line-${key}-new-account`).selectOption({ label: 'Sales of Product Income' });
  await m.locator(`#line-${key}-new-price`).fill('120');
  await m.locator(`#line-${key}-new-create`).click();
  await m.locator('li.line').first().locator('.linked', { hasText: 'Consulting hour' }).waitFor();
  const items = (await qb(`/_sim/realms/${REALM}/items`)).body;
  const made = items.find((i) => i.Name === 'Consulting hour');
  assert.ok(made, 'the item is in QuickBooks');
  assert.equal(made.Sku, 'CONS-HR');
  assert.equal(made.IncomeAccountRef.value, '2');
  await closeModal();
});

test('one link fills every line of that product', async () => {
  const m = await openModal(3); // 120 lines of one product (Sticker pack)
  assert.equal(await m.locator('li.line[data-unlinked="true"]').count(), 120);
  await linkLine(m, 0, 'widget', 'Widget');
  assert.equal(await m.locator('li.line[data-unlinked="true"]').count(), 0, 'no line left unlinked');
  await closeModal();
});

test('Enter after choosing an item moves on (never deletes), and a removed line comes back with Undo', async () => {
  const m = await openModal(1);
  const frame = modalFrame();
  const lines = await m.locator('li.line').count();
  const second = m.locator('li.line').nth(1); // Design package, not linked
  await second.locator('input[type="search"]').fill('Services');
  await second.locator('input[type="search"]').press('Enter');
  await second.locator('.results button').first().waitFor();
  await frame.waitForFunction(() => document.activeElement && document.activeElement.classList.contains('result'));
  await page.keyboard.press('Enter'); // choose
  await m.locator('li.line').nth(1).locator('.linked', { hasText: 'Services' }).waitFor();
  for (let i = 0; i < 3; i += 1) {
    await page.keyboard.press('Enter'); // again: nothing is removed, added or sent
    assert.equal(await m.locator('li.line').count(), lines, `Enter ${i + 1} removed or added a line`);
    assert.equal(await m.locator('li.line').nth(1).locator('input').first().inputValue(), 'Design package');
  }
  assert.ok(await frame.evaluate(() => !/remove/i.test(document.activeElement.getAttribute('aria-label') || '')));
  // Remove line 2, then undo.
  await m.getByRole('button', { name: 'Remove line 2' }).click();
  assert.equal(await m.locator('li.line').count(), lines - 1);
  await m.locator('#undo-remove').click();
  assert.equal(await m.locator('li.line').count(), lines);
  assert.equal(await m.locator('li.line').nth(1).locator('input').first().inputValue(), 'Design package');
  await closeModal();
});

test('an error is brought into view and focused; the form is disabled and Create busy while saving', async () => {
  const m = await openModal(3); // long: 120 lines
  // Customer: Brooklyn Bakers LLC, created in QuickBooks from the block.
  await m.locator('#create-customer').click();
  await m.locator('#linked-customer').waitFor();
  // QuickBooks fails (slowly) on the create.
  await send(`${sims.quickbooks_url}/_sim/knobs`, 'PUT', {
    latency_ms: 700,
    faults: { [`/v3/company/${REALM}/invoice`]: { force_500: 5 } },
  });
  try {
    await m.locator('#create').click();
    await m.locator('#create[aria-busy="true"]').waitFor();
    assert.equal(await m.locator('#create').textContent(), 'Creating…');
    assert.ok(await m.locator('#form-body').evaluate((el) => el.disabled), 'the form is disabled while saving');
    await m.locator('#form-errors.notice').waitFor({ timeout: 40000 });
  } finally {
    await send(`${sims.quickbooks_url}/_sim/knobs`, 'PUT', { latency_ms: 0, faults: {} });
  }
  const frame = modalFrame();
  const seen = await frame.evaluate(() => {
    const box = document.getElementById('form-errors');
    const r = box.getBoundingClientRect();
    return { inView: r.top >= 0 && r.bottom <= window.innerHeight, focused: document.activeElement === box, text: box.textContent };
  });
  assert.ok(seen.inView, `the error is in view: ${JSON.stringify(seen)}`);
  assert.ok(seen.focused, 'the error has the focus');
  assert.match(seen.text, /QuickBooks/);
  await page.locator('#modal-frame').screenshot({ path: join(ARTIFACTS, 'modal-error-in-view.png') });
  assert.equal((await qbInvoices()).length, 0);
  await closeModal();
});

test('another currency only with a rate the rep sees and confirms; every amount follows it', async () => {
  const m = await openModal(2); // GBP, 20 % inclusive, deal discount 50.00
  // Items for both lines, the customer O'Brien & Sons (USD).
  await linkLine(m, 0, 'hours', 'Hours');
  await linkLine(m, 1, 'consult', 'Consulting');
  await m.locator('#customer-search').fill("O'Brien");
  await m.locator('#customer-search').press('Enter');
  await m.locator('#customer-results button', { hasText: "O'Brien & Sons" }).click();
  await m.locator('#linked-customer').waitFor();
  // The mismatch is explained, with the way out; Create says it too (and nothing is sent).
  assert.match(await m.locator('#currency-mismatch').textContent(), /USD customer/);
  await m.locator('#txn-tax-code').selectOption('2');
  await m.locator('#create').click();
  await m.locator('[data-field="currency"] .field-error').waitFor();
  assert.equal((await qbInvoices()).filter((i) => i.CustomerRef.value === '2').length, 0);
  // Switching to USD asks for the rate first; nothing is relabelled meanwhile.
  await m.locator('#currency').selectOption('USD');
  await m.locator('#conversion').waitFor();
  await m.locator('#conversion-rate[value="1.27"]').waitFor();
  assert.match(await m.locator('#conversion-source').textContent(), /QuickBooks' rate/);
  assert.match(await m.locator('#total').textContent(), /GBP$/, 'still GBP until confirmed');
  await page.locator('.modal').screenshot({ path: join(ARTIFACTS, 'modal-conversion.png') });
  await m.locator('#convert-currency').click();
  await m.locator('#conversion-note').waitFor();
  assert.equal(await m.locator('[data-field="currency"] .field-error').count(), 0, 'the stale currency error is gone');
  assert.match(await m.locator('#total').textContent(), /USD$/);
  const discounts = await m.locator('ul.discounts li').allTextContents();
  assert.ok(discounts.some((d) => d.includes('63,50 USD')), discounts.join(' | '));
  const price = await m.locator('li.line').first().locator('input[inputmode="decimal"]').nth(1).inputValue();
  assert.equal(price, '1143.00', '900.00 GBP × 1.27');
  const shown = await m.locator('#total').getAttribute('data-value');
  await m.locator('#create').click();
  await snackbar('created in QuickBooks');
  const invoices = await qbInvoices();
  const usd = invoices.find((i) => i.CurrencyRef.value === 'USD');
  assert.ok(usd, JSON.stringify(invoices.map((i) => i.CurrencyRef)));
  assert.equal(Number(usd.TotalAmt).toFixed(2), shown);
  assert.match(usd.PrivateNote, /Prices converted from GBP at 1 GBP = 1.27 USD/);
});

test('a name QuickBooks already has offers the choice: link it, or create under another name', async () => {
  const made = await send(`${sims.quickbooks_url}/_sim/realms/${REALM}/customers`, 'POST', { DisplayName: 'Lena Vogel', CurrencyRef: { value: 'USD' } });
  assert.ok(made.status < 300, JSON.stringify(made.body));
  const m = await openModal(5); // Lena Vogel, EUR; the existing Lena Vogel is in USD
  await m.locator('#create-customer').click();
  await m.locator('#name-taken').waitFor();
  assert.match(await m.locator('#name-taken').textContent(), /already exists/);
  assert.match(await m.locator('#name-taken-link').textContent(), /Link to Lena Vogel/);
  assert.equal(await m.locator('#other-name').inputValue(), 'Lena Vogel (EUR)');
  const focused = await modalFrame().evaluate(() => document.activeElement.id);
  assert.equal(focused, 'name-taken');
  await m.locator('#create-other-name').click();
  await m.locator('#linked-customer', { hasText: 'Lena Vogel (EUR)' }).waitFor();
  assert.equal(await m.locator('#invoice-to').textContent(), 'Lena Vogel (EUR)', 'no currency twice');
  assert.ok((await qbCustomers()).some((c) => c.DisplayName === 'Lena Vogel (EUR)'));
  await closeModal();
});

test('an inactive customer of the same name is found, labelled, reactivated and linked', async () => {
  const made = await send(`${sims.quickbooks_url}/_sim/realms/${REALM}/customers`, 'POST', { DisplayName: 'Nordlicht Studio', CurrencyRef: { value: 'EUR' }, Active: false });
  assert.ok(made.status < 300, JSON.stringify(made.body));
  const m = await openModal(4); // Nordlicht Studio, EUR
  const suggestion = m.locator('button.result[data-active="false"]', { hasText: 'Nordlicht Studio' });
  await suggestion.waitFor();
  assert.match(await suggestion.textContent(), /Reactivate and link/);
  await suggestion.locator('.badge', { hasText: 'inactive' }).waitFor();
  await suggestion.click();
  await m.locator('#linked-customer', { hasText: 'Nordlicht Studio' }).waitFor();
  const now = (await qbCustomers()).find((c) => c.Id === made.body.Id);
  assert.equal(now.Active, true, 'active again in QuickBooks');
  // Invoice it (the deal has no products: one line from its value, priced here) for the next test.
  await m.locator('li.line').first().locator('input[inputmode="decimal"]').nth(1).fill('500');
  await linkLine(m, 0, 'services', 'Services');
  await m.locator('#create').click();
  await snackbar('created in QuickBooks');
});

test('sending to a customer without e-mail offers the address field, validated', async () => {
  // Deal 4's organization linked to a customer without e-mail, and an invoice without one.
  const made = await send(`${sims.quickbooks_url}/_sim/realms/${REALM}/customers`, 'POST', { DisplayName: 'Nordlicht Studio Berlin', CurrencyRef: { value: 'EUR' } });
  assert.ok(made.status < 300, JSON.stringify(made.body));
  const headers = await bearer(COMPANY, USER);
  const call = (method, path, body, extra = {}) => json(`${BASE}${path}`, { method, headers: { ...headers, ...extra }, body: body && JSON.stringify(body) });
  const linked = await call('PUT', '/api/deals/4/customer-link', { customer_id: made.body.Id, update_customer: false });
  assert.equal(linked.status, 200, JSON.stringify(linked.body));
  const form = (await call('GET', '/api/deals/4/draft')).body.form;
  form.lines[0] = { ...form.lines[0], unit_price: '480', item_id: '1', item_name: 'Services' };
  form.bill_email = null;
  const created = await call('POST', '/api/deals/4/invoices', form, { 'Idempotency-Key': `send-${Date.now()}` });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.invoice.id;
  await page.goto(`${BASE}/_local/deal/4`);
  const row = panel().locator(`li.invoice[data-invoice-id="${id}"]`);
  await row.waitFor();
  await row.locator('button.more').click();
  await row.locator('.menu button[data-action="send"]').click();
  const field = panel().locator(`#send-to-${id}`);
  await field.waitFor();
  assert.ok(await panel().locator('html').evaluate(() => document.activeElement && document.activeElement.type === 'email'), 'the field has the focus');
  // Empty: QuickBooks has no billing e-mail for it — said at the field.
  await panel().locator(`#send-submit-${id}`).click();
  await panel().locator(`#send-to-${id}-error`).waitFor();
  assert.match(await panel().locator(`#send-to-${id}-error`).textContent(), /no billing e-mail/);
  // Not an address: refused in the page.
  await field.fill('jonas at nordlicht');
  await panel().locator(`#send-submit-${id}`).click();
  assert.match(await panel().locator(`#send-to-${id}-error`).textContent(), /not an e-mail address/);
  await field.fill('jonas@nordlicht.example');
  await clearSnackbars();
  await panel().locator(`#send-submit-${id}`).click();
  await snackbar('e-mailed');
  const sent = (await qb(`/_sim/realms/${REALM}/invoices/${id}`)).body;
  const invoice = sent.Invoice || sent;
  assert.equal(invoice.EmailStatus, 'EmailSent');
  assert.equal(invoice.BillEmail.Address, 'jonas@nordlicht.example');
});

test('creating the same invoice again asks first, and creates it when the rep says so', async () => {
  const headers = await bearer(COMPANY, USER);
  const draft = (await json(`${BASE}/api/deals/5/draft`, { headers })).body;
  if (!draft.form.customer_id) {
    const made = await json(`${BASE}/api/quickbooks/customers`, { method: 'POST', headers, body: JSON.stringify({ deal_id: 5, display_name: 'Lena Vogel (EUR)', currency: 'EUR' }) });
    assert.equal(made.status, 201, JSON.stringify(made.body));
  }
  let m = await openModal(5); // Lena Vogel (EUR) linked; Training day
  await linkLine(m, 0, 'hours', 'Hours');
  await m.locator('#txn-tax-code').selectOption('2');
  await m.locator('#create').click();
  await snackbar('created in QuickBooks');
  const before = (await qbInvoices()).length;
  m = await openModal(5);
  await m.locator('#txn-tax-code').selectOption('2');
  await m.locator('#create').click();
  await page.locator('#confirm[open]').waitFor();
  assert.match(await page.textContent('#confirm-text'), /already has open invoice #\d+ for .* EUR — create another\?/);
  assert.equal((await qbInvoices()).length, before, 'nothing sent before the answer');
  await page.click('#confirm-ok');
  await snackbar('created in QuickBooks');
  assert.equal((await qbInvoices()).length, before + 1);
});

test('money reads the same in the page and in the API\'s sentences, in the user\'s locale (de_DE)', async () => {
  await page.goto(`${BASE}/_local/deal/5`);
  const total = await panel().locator('li.invoice .total').first().textContent();
  assert.match(total, /^\d{1,3}(\.\d{3})*,\d{2} EUR$/, `German separators: ${total}`);
  await panel().locator('#activity summary').click();
  const activity = await panel().locator('#activity').textContent();
  assert.ok(activity.includes(`created, ${total}`), `the server's sentence writes ${total} the same way: ${activity}`);
});

test('the panel follows a webhook while it is open', async () => {
  await page.goto(`${BASE}/_local/deal/5`);
  const row = panel().locator('li.invoice[data-status="open"]').first();
  await row.waitFor();
  const id = await row.getAttribute('data-invoice-id');
  const paid = await send(`${sims.quickbooks_url}/_sim/realms/${REALM}/payments`, 'POST', { invoice_id: id });
  assert.ok(paid.status < 300, JSON.stringify(paid.body));
  const flushed = await send(`${sims.quickbooks_url}/_sim/webhooks/flush`, 'POST');
  assert.ok(flushed.status < 300, JSON.stringify(flushed.body));
  // No click: the panel reads our store again while visible.
  await panel().locator(`li.invoice[data-invoice-id="${id}"][data-status="paid"]`).waitFor({ timeout: 45000 });
  // A paid invoice's Void says why it is not possible.
  const paidRow = panel().locator(`li.invoice[data-invoice-id="${id}"]`);
  await paidRow.locator('button.more').click();
  const voidItem = paidRow.locator('.menu button[data-action="void"]');
  assert.ok(await voidItem.isDisabled());
  assert.match(await voidItem.getAttribute('title'), /paid invoice cannot be voided/);
  assert.match(await voidItem.textContent(), /paid invoice cannot be voided/);
});

test('settings are checked in the page: the field\'s sentence, and an empty number is not 0', async () => {
  await page.goto(`${BASE}/_local/settings`);
  const s = page.frameLocator('#settings-frame');
  await s.locator('#due-days-n').waitFor();
  const headers = await bearer(COMPANY, USER);
  const saved = (await json(`${BASE}/api/settings`, { headers })).body;
  await s.locator('#due-days').check();
  await s.locator('#due-days-n').fill('-5');
  await s.locator('#save').click();
  const error = s.locator('[data-field="settings.due_date.days"] .field-error');
  await error.waitFor();
  assert.equal(await error.textContent(), 'The number of days after the invoice date must be a whole number from 0 to 365.');
  await s.locator('#due-days-n').fill('');
  await s.locator('#save').click();
  await s.locator('[data-field="settings.due_date.days"] .field-error', { hasText: 'Enter the number of days' }).waitFor();
  assert.deepEqual((await json(`${BASE}/api/settings`, { headers })).body, saved, 'nothing was saved');
  // The page says what it is connected to, with one period.
  assert.doesNotMatch(await s.locator('#connection-state').textContent(), /\.\.$/);
});
