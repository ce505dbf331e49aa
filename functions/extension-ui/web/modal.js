// The create-invoice modal: customer (pre-filled; link to an existing QuickBooks customer or
// create one), invoice details, items (pre-filled; add/remove; each line linked to a QuickBooks
// item), totals as QuickBooks will compute them, one idempotency key per opening.

import {
  api, busy, clearFieldErrors, command, dealId, h, money, mount, Problem, problemView, sdkReady,
  showFieldErrors, snackbar, stateView,
} from './common.js';
import { Dec, HUNDRED, ZERO, sum } from './decimal.js';

/* global AppExtensionsSDK */

const deal = dealId();
/** One key per opening of the modal: a retry of the same create never makes a second invoice. */
const idempotencyKey = crypto.randomUUID();

let draft = null;
let form = null;
let customer = null; // {id, display_name, currency} once linked
let updateCustomer = false;
const lineKeys = []; // stable ids of the lines for focus and labels
let nextLineKey = 0;
const searches = new Map(); // key → {term, results, error}
let customerSearch = { term: '', results: null, error: null };
let generalErrors = [];
/** Field problems (the draft's, then the last create attempt's), shown next to their fields. */
let fieldErrors = [];

/** The field errors still true of the form (a line linked since, a customer chosen since). */
function currentErrors() {
  return fieldErrors.filter((e) => {
    const m = /^lines\[(\d+)\]\.item_id$/.exec(e.field);
    if (m) {
      const line = form.lines[Number(m[1])];
      return Boolean(line && !line.item_id);
    }
    if (e.field === 'customer_id') return !form.customer_id;
    return true;
  });
}

// ---------------------------------------------------------------- totals (the app's preview)

function round2(d) { return d.round(2); }

function lineAmount(line) {
  const qty = Dec.parse(line.quantity) || ZERO;
  const price = Dec.parse(line.unit_price) || ZERO;
  const gross = qty.mul(price);
  const d = line.discount;
  if (!d) return round2(gross);
  const value = Dec.parse(d.value) || ZERO;
  if (d.kind === 'percentage') return round2(gross.sub(gross.mul(value).div(HUNDRED)));
  return round2(gross.sub(value));
}

function setupOf() { return draft.quickbooks; }

function taxCode(id) { return setupOf().tax_codes.find((c) => c.id === id); }

function totalRate(code) { return sum((code && code.rates) || []); }

function effectiveMode(mode) {
  return setupOf().us && mode === 'inclusive' ? 'exclusive' : mode;
}

function invoiceLineAmount(mode, line) {
  const amount = lineAmount(line);
  if (setupOf().us && mode === 'inclusive') {
    const pct = Dec.parse(line.tax_percent) || ZERO;
    return round2(amount.div(Dec.of(1).add(pct.div(HUNDRED))));
  }
  return amount;
}

function discountAmount(discounts, base) {
  if (!discounts.length) return ZERO;
  if (discounts.length === 1 && discounts[0].discount.kind === 'percentage') {
    return round2(base.mul(Dec.of(discounts[0].discount.value)).div(HUNDRED));
  }
  return sum(discounts.map((d) => (d.discount.kind === 'percentage'
    ? round2(base.mul(Dec.of(d.discount.value)).div(HUNDRED))
    : round2(Dec.of(d.discount.value)))));
}

/** A port of `shared::domain::draft::preview`: the totals QuickBooks will compute. */
export function preview(f) {
  const setup = setupOf();
  const mode = effectiveMode(f.tax_mode);
  const amounts = f.lines.map((l) => invoiceLineAmount(f.tax_mode, l));
  const linesTotal = sum(amounts);
  const inclusive = !setup.us && mode === 'inclusive';
  const rateOf = (code) => totalRate(code ? taxCode(code) : null);
  const nets = inclusive
    ? f.lines.map((l, i) => round2(amounts[i].div(Dec.of(1).add(rateOf(l.tax_code).div(HUNDRED)))))
    : amounts;
  const subtotal = sum(nets);
  const discount = discountAmount(f.discounts || [], inclusive ? linesTotal : subtotal);
  const afterDiscount = (f.discounts || []).length > 0 && !inclusive;
  const factor = afterDiscount && subtotal.cmp(ZERO) > 0 ? subtotal.sub(discount.min(subtotal)).div(subtotal) : Dec.of(1);
  let tax = ZERO;
  if (setup.us) {
    const taxable = sum(f.lines.map((l, i) => (l.tax_code === 'TAX' ? nets[i] : ZERO)));
    const base = round2(taxable.mul(factor));
    const code = f.txn_tax_code ? taxCode(f.txn_tax_code) : null;
    if (code && base.cmp(ZERO) > 0) {
      for (const rate of code.rates) tax = tax.add(round2(base.mul(Dec.of(rate)).div(HUNDRED)));
    }
  } else if (mode !== 'none') {
    const byCode = new Map();
    f.lines.forEach((l, i) => {
      if (!l.tax_code) return;
      const e = byCode.get(l.tax_code) || { net: ZERO, gross: ZERO };
      e.net = e.net.add(nets[i]);
      e.gross = e.gross.add(amounts[i]);
      byCode.set(l.tax_code, e);
    });
    for (const [id, { net, gross }] of [...byCode.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const code = taxCode(id);
      if (!code) continue;
      const base = round2(net.mul(factor));
      if (inclusive) {
        tax = tax.add(gross.sub(net));
      } else {
        for (const rate of code.rates) tax = tax.add(round2(base.mul(Dec.of(rate)).div(HUNDRED)));
      }
    }
  }
  const total = inclusive ? linesTotal.sub(discount) : subtotal.sub(discount).add(tax);
  return { linesTotal, subtotal, discount, tax, total };
}

// ---------------------------------------------------------------- rendering

function field(label, id, control, fieldName, hint) {
  return h('div', { class: 'field', dataset: { field: fieldName || id } },
    h('label', { for: id }, label), control, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
}

function input(id, value, onInput, attrs = {}) {
  return h('input', { id, name: id, value: value ?? '', oninput: (e) => onInput(e.target.value), ...attrs });
}

function select(id, options, value, onChange, attrs = {}) {
  return h('select', { id, name: id, onchange: (e) => onChange(e.target.value), ...attrs },
    options.map(([v, label]) => h('option', { value: v, selected: v === (value ?? '') }, label)));
}

function render() {
  const active = document.activeElement && document.activeElement.id;
  const formEl = h('form', { id: 'invoice-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); create(e.submitter); } },
    h('h1', {}, `New invoice for “${draft.deal.title}”`),
    customerSection(),
    detailsSection(),
    itemsSection(),
    totalsSection(),
    generalErrors.length || draft.warnings.length
      ? h('div', { class: 'notice', id: 'form-errors', role: 'alert' },
        h('ul', {}, generalErrors.map((e) => h('li', {}, e.message)), draft.warnings.map((w) => h('li', { class: 'warning' }, w))))
      : h('div', { id: 'form-errors', role: 'alert' }),
    h('div', { class: 'actions sticky' },
      h('button', { type: 'button', id: 'cancel', onclick: close }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary', id: 'create' }, 'Create invoice')));
  mount(formEl);
  const unplaced = showFieldErrors(formEl, currentErrors());
  if (unplaced.length) {
    const box = document.getElementById('form-errors');
    box.classList.add('notice');
    box.append(h('ul', {}, unplaced.map((e) => h('li', {}, e.message))));
  }
  if (active) {
    const el = document.getElementById(active);
    if (el) el.focus();
  }
}

function customerSection() {
  const block = draft.customer.block;
  const linked = customer
    ? h('p', { class: 'linked', id: 'linked-customer' }, '✓ QuickBooks customer: ', h('strong', {}, customer.display_name),
      customer.currency ? ` (${customer.currency})` : '', ' ',
      h('button', { type: 'button', class: 'link', id: 'change-customer', onclick: () => { customer = null; form.customer_id = null; render(); } }, 'Change'))
    : null;
  const chooser = customer ? null : h('div', { class: 'customer-chooser' },
    h('p', { class: 'warning', id: 'customer-warning' }, h('span', { class: 'warn-icon', role: 'img', 'aria-label': 'Warning' }, '⚠'),
      ' Link this deal to a QuickBooks customer, or create one.'),
    draft.customer.suggestions.length
      ? h('ul', { class: 'results', 'aria-label': 'Suggested customers' }, draft.customer.suggestions.map((s) => customerResult(s.customer, s.matched_by)))
      : null,
    h('div', { class: 'field search', dataset: { field: 'search' } },
      h('label', { for: 'customer-search' }, 'Search QuickBooks customers'),
      h('div', { class: 'row' },
        input('customer-search', customerSearch.term, (v) => { customerSearch.term = v; }, {
          type: 'search', autocomplete: 'off',
          onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); searchCustomers(); } },
        }),
        h('button', { type: 'button', id: 'customer-search-button', onclick: (e) => busy(e.currentTarget, searchCustomers) }, 'Search'))),
    customerSearch.error ? h('p', { class: 'field-error', role: 'alert' }, customerSearch.error) : null,
    customerSearch.results
      ? (customerSearch.results.length
        ? h('ul', { class: 'results', id: 'customer-results', 'aria-label': 'Customers found' }, customerSearch.results.map((c) => customerResult(c)))
        : h('p', { class: 'muted', id: 'customer-results' }, 'No customer found.'))
      : null,
    h('button', { type: 'button', id: 'create-customer', onclick: (e) => busy(e.currentTarget, createCustomer) },
      `Create “${block.name || 'new customer'}” in QuickBooks`));
  const address = block.address ? (block.address.formatted || [block.address.line1, block.address.city, block.address.postal_code, block.address.country].filter(Boolean).join(', ')) : '';
  return h('fieldset', { class: 'section', dataset: { field: 'customer_id' } },
    h('legend', {}, 'Customer information'),
    linked, chooser,
    field('To (customer name)', 'customer-name', input('customer-name', block.name, (v) => { block.name = v; }, { autocomplete: 'off' }), 'display_name'),
    field('Email', 'bill-email', input('bill-email', form.bill_email, (v) => { form.bill_email = v.trim() || null; }, { type: 'email', autocomplete: 'off' }), 'bill_email'),
    address ? h('p', { class: 'muted', id: 'customer-address' }, `Address: ${address}`) : null,
    field('Customer tax ID', 'tax-id', input('tax-id', block.tax_id, (v) => { block.tax_id = v.trim() || null; }, { autocomplete: 'off' }), 'tax_id'),
    h('div', { class: 'field checkbox' },
      h('input', { type: 'checkbox', id: 'update-customer', checked: updateCustomer, onchange: (e) => { updateCustomer = e.target.checked; } }),
      h('label', { for: 'update-customer' }, 'Update the QuickBooks customer with this address, email and tax ID')));
}

function customerResult(c, matchedBy) {
  return h('li', {},
    h('button', { type: 'button', class: 'result', dataset: { customerId: c.id }, onclick: (e) => busy(e.currentTarget, () => linkCustomer(c)) },
      `Link to ${c.display_name}`, c.currency ? ` (${c.currency})` : '', matchedBy && matchedBy !== 'link' ? ` — same ${matchedBy}` : ''));
}

function detailsSection() {
  const setup = setupOf();
  const currencies = [setup.home_currency, ...(setup.multi_currency ? setup.currencies : [])];
  if (!currencies.includes(form.currency)) currencies.push(form.currency);
  const groups = setup.tax_codes.filter((c) => c.group && c.active);
  return h('fieldset', { class: 'section' },
    h('legend', {}, 'Invoice details'),
    h('div', { class: 'grid' },
      field('Currency', 'currency', select('currency', [...new Set(currencies)].map((c) => [c, c]), form.currency, (v) => { form.currency = v; updateTotals(); }), 'currency'),
      field('Invoice date', 'txn-date', input('txn-date', form.txn_date, (v) => { form.txn_date = v; }, { type: 'date', required: true }), 'txn_date'),
      field('Due date', 'due-date', input('due-date', form.due_date, (v) => { form.due_date = v || null; }, { type: 'date' }), 'due_date',
        form.due_date ? null : 'Empty: the customer\'s payment terms decide.'),
      field('Tax', 'tax-mode', select('tax-mode', [['exclusive', 'Amounts exclude tax'], ['inclusive', 'Amounts include tax'], ['none', 'No tax']], form.tax_mode, (v) => { form.tax_mode = v; updateTotals(); }), 'tax_mode'),
      setup.us ? field('Sales tax rate', 'txn-tax-code', select('txn-tax-code', [['', '— none —'], ...groups.map((c) => [c.id, `${c.name} (${totalRate(c).toString()} %)`])], form.txn_tax_code, (v) => { form.txn_tax_code = v || null; updateTotals(); }), 'txn_tax_code') : null,
      draft.options.doc_number ? field('Invoice number', 'doc-number', input('doc-number', form.doc_number, (v) => { form.doc_number = v.trim() || null; }, { maxlength: 21 }), 'doc_number') : null),
    field('Message to the customer', 'customer-memo', h('textarea', { id: 'customer-memo', rows: 2, oninput: (e) => { form.customer_memo = e.target.value || null; } }, form.customer_memo || ''), 'customer_memo'),
    field('Private note', 'private-note', h('textarea', { id: 'private-note', rows: 2, oninput: (e) => { form.private_note = e.target.value || null; } }, form.private_note || ''), 'private_note'));
}

function taxOptions() {
  const setup = setupOf();
  if (setup.us) return [['', '—'], ['TAX', 'Taxable (TAX)'], ['NON', 'Not taxable (NON)']];
  return [['', '—'], ...setup.tax_codes.filter((c) => c.active && !c.group).map((c) => [c.id, c.name])];
}

function itemsSection() {
  return h('fieldset', { class: 'section', dataset: { field: 'lines' } },
    h('legend', {}, 'Items'),
    h('ol', { class: 'lines', id: 'lines' }, form.lines.map(lineView)),
    h('button', { type: 'button', id: 'add-line', onclick: addLine }, '+ Add line'),
    (form.discounts || []).length
      ? h('ul', { class: 'discounts muted', 'aria-label': 'Deal discounts' }, form.discounts.map((d) => h('li', {},
        `${d.description}: ${d.discount.kind === 'percentage' ? `${d.discount.value} %` : money(d.discount.value, form.currency)}`)))
      : null);
}

function lineView(line, i) {
  const key = lineKeys[i];
  const n = i + 1;
  const search = searches.get(key) || { term: line.name || '', results: null, error: null };
  searches.set(key, search);
  const item = line.item_id
    ? h('p', { class: 'linked', id: `line-${key}-item` }, `✓ QuickBooks item: ${line.item_name || line.item_id} `,
      h('button', { type: 'button', class: 'link', 'aria-label': `Change the QuickBooks item of line ${n}`, onclick: () => { line.item_id = null; line.item_name = null; render(); } }, 'Change'))
    : h('div', { class: 'item-chooser' },
      h('p', { class: 'warning', id: `line-${key}-warning` },
        h('span', { class: 'warn-icon', role: 'img', 'aria-label': 'Not linked' }, '⚠'),
        ' Not linked to a QuickBooks product or service.'),
      h('div', { class: 'row' },
        h('label', { for: `line-${key}-search`, class: 'visually-hidden' }, `Search QuickBooks items for line ${n}`),
        input(`line-${key}-search`, search.term, (v) => { search.term = v; }, {
          type: 'search', autocomplete: 'off', placeholder: 'Search items',
          onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); searchItems(key); } },
        }),
        h('button', { type: 'button', id: `line-${key}-search-button`, 'aria-label': `Search items for line ${n}`, onclick: (e) => busy(e.currentTarget, () => searchItems(key)) }, 'Search')),
      search.error ? h('p', { class: 'field-error', role: 'alert' }, search.error) : null,
      search.results
        ? (search.results.length
          ? h('ul', { class: 'results', 'aria-label': `Items for line ${n}` }, search.results.map((it) => h('li', {},
            h('button', { type: 'button', class: 'result', dataset: { itemId: it.id }, onclick: (e) => busy(e.currentTarget, () => chooseItem(key, it)) },
              `Use ${it.name}`, it.unit_price ? ` (${money(it.unit_price)})` : ''))))
          : h('p', { class: 'muted' }, 'No item found.'))
        : null);
  return h('li', { class: 'line', dataset: { line: String(i), unlinked: line.item_id ? 'false' : 'true' } },
    h('div', { class: 'grid line-grid' },
      field(`Line ${n} description`, `line-${key}-name`, input(`line-${key}-name`, line.name, (v) => { line.name = v; }), `lines[${i}].name`),
      field('Quantity', `line-${key}-quantity`, input(`line-${key}-quantity`, line.quantity, (v) => { line.quantity = v.trim(); updateTotals(); }, { inputmode: 'decimal' }), `lines[${i}].quantity`),
      field('Unit price', `line-${key}-price`, input(`line-${key}-price`, line.unit_price, (v) => { line.unit_price = v.trim(); updateTotals(); }, { inputmode: 'decimal' }), `lines[${i}].unit_price`),
      field('Tax', `line-${key}-tax`, select(`line-${key}-tax`, taxOptions(), line.tax_code, (v) => { line.tax_code = v || null; updateTotals(); }), `lines[${i}].tax_code`)),
    line.discount ? h('p', { class: 'muted', dataset: { field: `lines[${i}].discount` } }, `Discount: ${line.discount.kind === 'percentage' ? `${line.discount.value} %` : money(line.discount.value)}`) : null,
    h('div', { class: 'field', dataset: { field: `lines[${i}].item_id` } }, item),
    h('p', { class: 'line-foot' },
      h('span', { class: 'amount', id: `line-${key}-amount` }, amountText(line)),
      h('button', { type: 'button', class: 'link danger', id: `line-${key}-remove`, 'aria-label': `Remove line ${n}`, onclick: () => removeLine(i) }, 'Remove')));
}

function amountText(line) {
  try {
    return `Amount ${money(lineAmount(line).toFixed(2), form.currency)}`;
  } catch {
    return 'Amount —';
  }
}

function totalsSection() {
  return h('section', { class: 'totals', 'aria-label': 'Totals', id: 'totals' }, h('dl', {}, totalsRows()));
}

function totalsRows() {
  let t;
  try {
    t = preview(form);
  } catch {
    return [h('dt', {}, 'Total'), h('dd', { id: 'total' }, '—')];
  }
  const c = form.currency;
  return [
    h('dt', {}, 'Subtotal'), h('dd', { id: 'subtotal' }, money(t.subtotal.toFixed(2), c)),
    t.discount.isZero() ? null : [h('dt', {}, 'Discount'), h('dd', { id: 'discount' }, money(t.discount.toFixed(2), c))],
    h('dt', {}, 'Tax'), h('dd', { id: 'tax' }, money(t.tax.toFixed(2), c)),
    h('dt', {}, 'Total'), h('dd', { id: 'total', dataset: { value: t.total.toFixed(2) } }, money(t.total.toFixed(2), c)),
  ];
}

function updateTotals() {
  const totals = document.getElementById('totals');
  if (totals) totals.querySelector('dl').replaceChildren(...totalsRows().flat());
  form.lines.forEach((line, i) => {
    const el = document.getElementById(`line-${lineKeys[i]}-amount`);
    if (el) el.textContent = amountText(line);
  });
}

// ---------------------------------------------------------------- actions

async function searchCustomers() {
  const term = customerSearch.term.trim();
  if (!term) {
    customerSearch = { term, results: null, error: 'Type a name or an e-mail address to search.' };
    render();
    return;
  }
  try {
    const { customers } = await api('GET', `/api/quickbooks/customers?search=${encodeURIComponent(term)}`);
    customerSearch = { term, results: customers, error: null };
  } catch (e) {
    customerSearch = { term, results: null, error: e.message };
  }
  render();
  const results = document.querySelector('#customer-results button');
  if (results) results.focus();
}

async function linkCustomer(c) {
  try {
    const answer = await api('PUT', `/api/deals/${deal}/customer-link`, {
      body: { customer_id: c.id, update_customer: updateCustomer, block: draft.customer.block },
    });
    linked(answer);
    snackbar(`Linked to ${answer.customer.display_name}.`);
  } catch (e) {
    customerSearch.error = e.message;
    render();
  }
}

async function createCustomer() {
  const block = draft.customer.block;
  try {
    const answer = await api('POST', '/api/quickbooks/customers', {
      body: {
        deal_id: deal,
        display_name: (block.name || '').trim(),
        currency: form.currency,
        email: form.bill_email || block.email || null,
        address: block.address || null,
        tax_id: block.tax_id || null,
      },
    });
    linked(answer);
    snackbar(`Created ${answer.customer.display_name} in QuickBooks.`);
  } catch (e) {
    if (e instanceof Problem && e.errors.length) {
      fieldErrors = e.errors;
      render();
    } else {
      customerSearch.error = e.message;
      render();
    }
  }
}

function linked(answer) {
  customer = answer.customer;
  form.customer_id = answer.customer.id;
  if (answer.link && answer.link.party) form.party = answer.link.party;
  customerSearch = { term: '', results: null, error: null };
  render();
  const el = document.getElementById('change-customer');
  if (el) el.focus();
}

async function searchItems(key) {
  const search = searches.get(key);
  const term = (search.term || '').trim();
  if (!term) {
    search.error = 'Type a name to search.';
    render();
    return;
  }
  try {
    const { items } = await api('GET', `/api/quickbooks/items?search=${encodeURIComponent(term)}`);
    Object.assign(search, { results: items, error: null });
  } catch (e) {
    Object.assign(search, { results: null, error: e.message });
  }
  render();
  const first = document.querySelector(`[data-line="${lineKeys.indexOf(key)}"] .results button`);
  if (first) first.focus();
}

async function chooseItem(key, item) {
  const i = lineKeys.indexOf(key);
  const line = form.lines[i];
  const search = searches.get(key);
  try {
    if (line.product_id) {
      // The link is kept: every later invoice with this product uses the item.
      await api('PUT', `/api/products/${line.product_id}/item-link`, { body: { item_id: item.id } });
    }
    line.item_id = item.id;
    line.item_name = item.name;
    search.results = null;
    snackbar(`Line ${i + 1} is linked to ${item.name}.`);
  } catch (e) {
    search.error = e.message;
  }
  render();
  const next = document.getElementById(`line-${key}-remove`);
  if (next) next.focus();
}

function addLine() {
  const first = form.lines[0];
  form.lines.push({
    name: '', description: null, quantity: '1', unit_price: '0', discount: null, tax_percent: null,
    item_id: null, item_name: null, tax_code: first ? first.tax_code : null, product_id: null, deal_product_id: null,
  });
  lineKeys.push(nextLineKey++);
  render();
  const el = document.getElementById(`line-${lineKeys[lineKeys.length - 1]}-name`);
  if (el) el.focus();
}

function removeLine(i) {
  form.lines.splice(i, 1);
  fieldErrors = fieldErrors.filter((e) => !e.field.startsWith('lines['));
  const [key] = lineKeys.splice(i, 1);
  searches.delete(key);
  render();
  const el = document.getElementById('add-line');
  if (el) el.focus();
}

function body() {
  const total = preview(form).total;
  const clean = (v) => (v === '' ? null : v);
  return {
    ...form,
    due_date: clean(form.due_date),
    lines: form.lines.map((l) => ({ ...l, quantity: l.quantity || '0', unit_price: l.unit_price || '0' })),
    expected_total: total.toFixed(2),
  };
}

async function create(button) {
  const formEl = document.getElementById('invoice-form');
  clearFieldErrors(formEl);
  generalErrors = [];
  fieldErrors = [];
  let payload;
  try {
    payload = body();
  } catch {
    generalErrors = [{ field: 'lines', message: 'Quantities and prices must be numbers such as 2 or 19.90.' }];
    render();
    return;
  }
  await busy(button || document.getElementById('create'), async () => {
    try {
      const created = await api('POST', `/api/deals/${deal}/invoices`, {
        body: payload,
        headers: { 'Idempotency-Key': idempotencyKey },
      });
      const number = created.invoice.doc_number || created.invoice.id;
      mount(stateView(`Invoice ${number} created`, `${money(created.invoice.total, created.invoice.currency)} for ${created.invoice.customer_name || 'the customer'}.`));
      await snackbar(`Invoice ${number} created in QuickBooks.`);
      await close();
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      if (e.errors.length) {
        fieldErrors = e.errors;
        render();
        const first = document.querySelector('[aria-invalid="true"], .field-error');
        if (first) {
          first.scrollIntoView({ block: 'center' });
          if (first.focus) first.focus();
        }
      } else {
        generalErrors = [{ field: '', message: e.message }];
        render();
      }
    }
  });
}

async function close() {
  try {
    await command(AppExtensionsSDK.Command.CLOSE_MODAL);
  } catch {
    // Not in a modal: nothing to close.
  }
}

async function load() {
  try {
    draft = await api('GET', `/api/deals/${deal}/draft`);
  } catch (e) {
    mount(e instanceof Problem ? problemView(e, load) : stateView('Something went wrong', e.message));
    return;
  }
  form = structuredClone(draft.form);
  form.lines.forEach(() => lineKeys.push(nextLineKey++));
  if (!form.bill_email && draft.customer.block.email) form.bill_email = draft.customer.block.email;
  updateCustomer = Boolean(draft.customer.update_customer);
  // What blocks creation, shown from the start (unlinked lines and customer have their warnings).
  fieldErrors = (draft.problems || []).filter((p) => p.field !== 'customer_id' && !/^lines\[\d+\]\.item_id$/.test(p.field));
  const link = draft.customer.linked;
  if (link && form.customer_id) {
    customer = { id: link.customer_id, display_name: link.display_name, currency: link.currency };
  }
  render();
}

(async () => {
  if (!deal) {
    mount(stateView('No deal', 'Open this window from a deal.'));
    return;
  }
  try {
    const sdk = await sdkReady;
    sdk.listen(AppExtensionsSDK.Event.CLOSE_CUSTOM_MODAL, () => {});
  } catch (e) {
    mount(stateView('Open this page from Pipedrive', e.message));
    return;
  }
  await load();
})();
