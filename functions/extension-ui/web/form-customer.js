// The create modal's customer part, saying what will be sent: before linking, the name a new
// QuickBooks customer would get (the button follows the edited name), the suggestions (inactive
// customers too, labelled, with "Reactivate and link") and a search (words anywhere, the most
// recent customers on focus); after linking, the QuickBooks customer the invoice goes to. A name
// QuickBooks already has offers the choice: link that customer, or create under another name.

import { api, busy, h, Problem, reveal, snackbar } from './common.js';
import { field, input } from './form-controls.js';
import { clearErrorsFor, render, state } from './form-state.js';

/** "Lena Vogel (EUR)" stays so; "Acme" becomes "Acme (EUR)" — never the currency twice. */
export function withCurrency(name, currency) {
  if (!currency || name.trim().endsWith(`(${currency})`)) return name;
  return `${name} (${currency})`;
}

function linked(answer) {
  state.customer = answer.customer;
  state.form.customer_id = answer.customer.id;
  if (answer.link && answer.link.party) state.form.party = answer.link.party;
  state.customerSearch = { term: '', results: null, error: null };
  state.nameTaken = null;
  clearErrorsFor('customer_id');
  render();
  const el = document.getElementById('change-customer');
  if (el) el.focus();
}

async function linkCustomer(c) {
  try {
    const answer = await api('PUT', `/api/deals/${state.deal}/customer-link`, {
      body: { customer_id: c.id, update_customer: state.updateCustomer, block: state.draft.customer.block, reactivate: c.active === false },
    });
    snackbar(c.active === false ? `${answer.customer.display_name} is active again and linked.` : `Linked to ${answer.customer.display_name}.`);
    linked(answer);
  } catch (e) {
    state.customerSearch.error = e.message;
    render();
    reveal(document.getElementById('customer-error'));
  }
}

async function createCustomer(name) {
  const block = state.draft.customer.block;
  try {
    const answer = await api('POST', '/api/quickbooks/customers', {
      body: {
        deal_id: state.deal,
        display_name: name.trim(),
        currency: state.form.currency,
        email: state.form.bill_email || block.email || null,
        address: block.address || null,
        tax_id: block.tax_id || null,
      },
    });
    snackbar(`Created ${answer.customer.display_name} in QuickBooks.`);
    linked(answer);
  } catch (e) {
    if (e instanceof Problem && e.is('name-taken')) {
      const current = e.body.current || {};
      state.nameTaken = { detail: e.message, customer: current.customer || null, otherName: current.suggested_name || `${name} (2)` };
      render();
      reveal(document.getElementById('name-taken'));
      return;
    }
    if (e instanceof Problem && e.errors.length) {
      state.fieldErrors = e.errors;
    } else {
      state.customerSearch.error = e.message;
    }
    render();
    reveal(document.querySelector('#customer .field-error'));
  }
}

let searchSeq = 0;

/** Searches the customers; an answer overtaken by a later search is dropped. */
async function searchCustomers(term) {
  searchSeq += 1;
  const seq = searchSeq;
  state.customerSearch.loading = true;
  let found;
  try {
    const { customers } = await api('GET', `/api/quickbooks/customers?search=${encodeURIComponent(term.trim())}`);
    found = { results: customers, error: null, first: !term.trim() };
  } catch (e) {
    found = { results: null, error: e.message };
  }
  if (seq !== searchSeq) return false;
  state.customerSearch = { term: state.customerSearch.term, ...found };
  render();
  return true;
}

function customerResult(c, matchedBy) {
  const inactive = c.active === false;
  return h('li', {},
    h('button', { type: 'button', class: 'result', dataset: { customerId: c.id, active: String(!inactive) }, onclick: (e) => busy(e.currentTarget, () => linkCustomer(c)) },
      inactive ? `Reactivate and link ${withCurrency(c.display_name, c.currency)}` : `Link to ${withCurrency(c.display_name, c.currency)}`,
      inactive ? h('span', { class: 'badge inactive' }, 'inactive') : null,
      matchedBy && matchedBy !== 'link' ? ` — same ${matchedBy}` : ''));
}

function nameTakenBox() {
  const t = state.nameTaken;
  const existing = t.customer;
  return h('div', { class: 'notice', id: 'name-taken', role: 'alert', tabindex: '-1' },
    h('p', {}, t.detail),
    existing ? h('p', {}, h('button', { type: 'button', class: 'primary', id: 'name-taken-link', onclick: (e) => busy(e.currentTarget, () => linkCustomer(existing)) },
      existing.active === false ? `Reactivate and link ${existing.display_name}` : `Link to ${existing.display_name}`)) : null,
    h('div', { class: 'field' },
      h('label', { for: 'other-name' }, 'Or create the customer under another name'),
      h('div', { class: 'row' },
        input('other-name', t.otherName, (v) => { t.otherName = v; }, { autocomplete: 'off', maxlength: 500 }),
        h('button', { type: 'button', id: 'create-other-name', onclick: (e) => busy(e.currentTarget, () => createCustomer(t.otherName), { label: 'Creating…' }) }, 'Create'))));
}

function chooser(block) {
  const search = state.customerSearch;
  const createLabel = () => `Create “${(block.name || '').trim() || 'new customer'}” in QuickBooks`;
  return h('div', { class: 'customer-chooser' },
    h('p', { class: 'warning', id: 'customer-warning' }, h('span', { class: 'warn-icon', role: 'img', 'aria-label': 'Warning' }, '⚠'),
      ' Link this deal to a QuickBooks customer, or create one.'),
    state.draft.customer.suggestions.length
      ? h('ul', { class: 'results', 'aria-label': 'Suggested customers' }, state.draft.customer.suggestions.map((s) => customerResult(s.customer, s.matched_by)))
      : null,
    h('div', { class: 'field search', dataset: { field: 'search' } },
      h('label', { for: 'customer-search' }, 'Search QuickBooks customers'),
      h('div', { class: 'row' },
        input('customer-search', search.term, (v) => { search.term = v; }, {
          type: 'search', autocomplete: 'off', placeholder: 'Any word of the name, or an e-mail',
          onfocus: () => { if (!search.results && !search.loading && !search.term.trim()) searchCustomers(''); },
          onkeydown: (e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              searchCustomers(search.term).then((latest) => {
                const first = latest && document.querySelector('#customer-results button');
                if (first) first.focus();
              });
            }
          },
        }),
        h('button', { type: 'button', id: 'customer-search-button', onclick: (e) => busy(e.currentTarget, () => searchCustomers(search.term)) }, 'Search'))),
    search.error ? h('p', { class: 'field-error', role: 'alert', id: 'customer-error' }, search.error) : null,
    search.results
      ? (search.results.length
        ? h('ul', { class: 'results', id: 'customer-results', 'aria-label': search.first ? 'Recent customers' : 'Customers found' }, search.results.map((c) => customerResult(c)))
        : h('p', { class: 'muted', id: 'customer-results' }, 'No customer found.'))
      : null,
    state.nameTaken ? nameTakenBox() : null,
    field('Name of the new customer', 'customer-name', input('customer-name', block.name, (v) => {
      block.name = v;
      state.nameTaken = null;
      const button = document.getElementById('create-customer');
      if (button) button.textContent = createLabel();
    }, { autocomplete: 'off' }), 'display_name'),
    h('button', { type: 'button', id: 'create-customer', onclick: (e) => busy(e.currentTarget, () => createCustomer(block.name || ''), { label: 'Creating…' }) }, createLabel()));
}

export function customerSection() {
  const block = state.draft.customer.block;
  const c = state.customer;
  const address = block.address ? (block.address.formatted || [block.address.line1, block.address.city, block.address.postal_code, block.address.country].filter(Boolean).join(', ')) : '';
  const to = c
    ? h('p', { class: 'linked', id: 'linked-customer' }, 'To: ', h('strong', { id: 'invoice-to' }, c.display_name),
      c.currency && !c.display_name.trim().endsWith(`(${c.currency})`) ? h('span', { class: 'badge', title: `A ${c.currency} customer in QuickBooks` }, c.currency) : null,
      ' ',
      h('button', { type: 'button', class: 'link', id: 'change-customer', onclick: () => { state.customer = null; state.form.customer_id = null; render(); } }, 'Change'))
    : chooser(block);
  return h('fieldset', { class: 'section', id: 'customer', dataset: { field: 'customer_id' } },
    h('legend', {}, 'Customer'),
    to,
    field('Email (the invoice is sent to)', 'bill-email', input('bill-email', state.form.bill_email, (v) => { state.form.bill_email = v.trim() || null; clearErrorsFor('bill_email'); }, { type: 'email', autocomplete: 'off' }), 'bill_email'),
    address ? h('p', { class: 'muted', id: 'customer-address' }, `Address: ${address}`) : null,
    field('Customer tax ID', 'tax-id', input('tax-id', block.tax_id, (v) => { block.tax_id = v.trim() || null; }, { autocomplete: 'off' }), 'tax_id'),
    h('div', { class: 'field checkbox' },
      h('input', { type: 'checkbox', id: 'update-customer', checked: state.updateCustomer, onchange: (e) => { state.updateCustomer = e.target.checked; } }),
      h('label', { for: 'update-customer' }, 'Update the QuickBooks customer with this address, email and tax ID')));
}
