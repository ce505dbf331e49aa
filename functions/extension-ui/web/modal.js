// The create-invoice modal: customer (form-customer.js), invoice details and currency
// (form-currency.js), items (form-lines.js), totals as QuickBooks will compute them
// (form-totals.js), one idempotency key per opening. Errors are brought into view and focused;
// while saving the form is disabled and Create says so; Enter in a field moves to the next one
// (it never submits, removes or adds anything).

import {
  api, busy, clearFieldErrors, command, confirmAction, dealId, formatReady, h, mount, Problem,
  problemView, reveal, sdkReady, showFieldErrors, snackbar, stateView, money, tooltips,
} from './common.js';
import { field, input, select } from './form-controls.js';
import { askToChange, currencyBox, pendingProblem, rememberOriginals } from './form-currency.js';
import { customerSection } from './form-customer.js';
import { itemsSection } from './form-lines.js';
import { PartInputError, partOfBody, partSection, startingPart, submitLabel } from './form-part.js';
import { clearErrorsFor, newKey, setRenderer, state } from './form-state.js';
import { totalsSection, updateTotals } from './form-totals.js';
import { preview, totalRate } from './totals.js';

/* global AppExtensionsSDK */

/** One key per opening of the modal: a retry of the same create never makes a second invoice. */
const idempotencyKey = crypto.randomUUID();

/** The field errors still true of the form (a line linked since, a customer chosen since). */
function currentErrors() {
  const { form } = state;
  return state.fieldErrors.filter((e) => {
    const m = /^lines\[(\d+)\]\.item_id$/.exec(e.field);
    if (m) {
      const line = form.lines[Number(m[1])];
      return Boolean(line && !line.item_id);
    }
    if (e.field === 'customer_id') return !form.customer_id;
    if (e.field === 'txn_tax_code') return !form.txn_tax_code;
    // A currency problem is looked at again once the rep chose (or is choosing) a currency.
    if (e.field === 'currency' || e.field.startsWith('conversion')) return !state.pending && !form.conversion;
    return true;
  });
}

// ---------------------------------------------------------------- dates

function addDays(iso, days) {
  const d = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return null;
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function dueRuleDays() {
  const rule = state.draft.due_rule;
  return rule && rule.kind === 'days_after_issue' ? rule.days : null;
}

function setInvoiceDate(value) {
  const { form } = state;
  form.txn_date = value;
  clearErrorsFor('txn_date');
  const days = dueRuleDays();
  if (!state.dueManual && days !== null && value) {
    form.due_date = addDays(value, days);
    const due = document.getElementById('due-date');
    if (due) due.value = form.due_date || '';
    clearErrorsFor('due_date');
  }
}

function dueHint() {
  const days = dueRuleDays();
  if (!state.form.due_date) return 'Empty: the customer\'s payment terms decide.';
  if (days !== null && !state.dueManual) return `${days} days after the invoice date (your settings).`;
  return null;
}

// ---------------------------------------------------------------- rendering

function detailsSection() {
  const { form } = state;
  const setup = state.draft.quickbooks;
  const currencies = [setup.home_currency, ...(setup.multi_currency ? setup.currencies : [])];
  for (const c of [form.currency, form.deal_currency]) if (c && !currencies.includes(c)) currencies.push(c);
  const groups = setup.tax_codes.filter((c) => c.group && c.active);
  const shownCurrency = state.pending ? state.pending.to : form.currency;
  return h('fieldset', { class: 'section' },
    h('legend', {}, 'Invoice details'),
    h('div', { class: 'grid' },
      field('Currency', 'currency', select('currency', [...new Set(currencies)].map((c) => [c, c]), shownCurrency, (v) => askToChange(v)), 'currency-select'),
      field('Invoice date', 'txn-date', input('txn-date', form.txn_date, setInvoiceDate, { type: 'date', required: true }), 'txn_date'),
      field('Due date', 'due-date', input('due-date', form.due_date, (v) => { form.due_date = v || null; state.dueManual = true; clearErrorsFor('due_date'); }, { type: 'date' }), 'due_date', dueHint()),
      field('Tax', 'tax-mode', select('tax-mode', [['exclusive', 'Prices exclude tax'], ['inclusive', 'Prices include tax'], ['none', 'No tax']], form.tax_mode, (v) => { form.tax_mode = v; updateTotals(); }), 'tax_mode'),
      setup.us ? field('Sales tax rate', 'txn-tax-code', select('txn-tax-code', [['', '— choose —'], ...groups.map((c) => [c.id, `${c.name} (${totalRate(c).toString()} %)`])], form.txn_tax_code, (v) => { form.txn_tax_code = v || null; clearErrorsFor('txn_tax_code'); render(); }), 'txn_tax_code',
        !form.txn_tax_code && state.draft.tax_note ? state.draft.tax_note : null) : null,
      state.draft.options.doc_number ? field('Invoice number', 'doc-number', input('doc-number', form.doc_number, (v) => { form.doc_number = v.trim() || null; clearErrorsFor('doc_number'); }, { maxlength: 21 }), 'doc_number') : null),
    h('div', { class: 'currency-errors', dataset: { field: 'currency' } }),
    h('div', { class: 'currency-part' }, currencyBox()),
    field('Message to the customer', 'customer-memo', h('textarea', { id: 'customer-memo', rows: 2, oninput: (e) => { form.customer_memo = e.target.value || null; } }, form.customer_memo || ''), 'customer_memo'),
    field('Private note', 'private-note', h('textarea', { id: 'private-note', rows: 2, oninput: (e) => { form.private_note = e.target.value || null; } }, form.private_note || ''), 'private_note'));
}

function errorsBox() {
  const general = state.generalErrors;
  const warnings = state.draft.warnings;
  if (!general.length && !warnings.length) return h('div', { id: 'form-errors', role: 'alert', tabindex: '-1' });
  return h('div', { class: 'notice', id: 'form-errors', role: 'alert', tabindex: '-1' },
    h('ul', {}, general.map((e) => h('li', { class: 'error' }, e.message)), warnings.map((w) => h('li', { class: 'warning' }, w))));
}

/** Enter in a field goes to the next field: it never submits, removes or adds anything. */
function enterMovesOn(e) {
  if (e.key !== 'Enter' || e.defaultPrevented) return;
  const t = e.target;
  if (!(t instanceof HTMLInputElement || t instanceof HTMLSelectElement)) return;
  if (t.type === 'checkbox' || t.type === 'radio') return;
  e.preventDefault();
  const fields = [...document.querySelectorAll('#invoice-form input, #invoice-form select, #invoice-form textarea')]
    .filter((el) => !el.disabled && el.type !== 'hidden' && el.offsetParent !== null);
  const next = fields[fields.indexOf(t) + 1];
  if (next) next.focus();
}

/** The focused field and its caret, to put back after a render replaced it. */
function focusState() {
  const el = document.activeElement;
  if (!el || !el.id) return null;
  let caret = null;
  try {
    caret = typeof el.selectionStart === 'number' ? [el.selectionStart, el.selectionEnd] : null;
  } catch {
    caret = null;
  }
  return { id: el.id, caret };
}

function restoreFocus(saved) {
  const el = saved && document.getElementById(saved.id);
  if (!el) return;
  el.focus();
  if (saved.caret) {
    try {
      el.setSelectionRange(saved.caret[0], saved.caret[1]);
    } catch {
      // Not a text field (a date, a number): nothing to put back.
    }
  }
}

/** What the form creates: 'invoice', or 'estimate' (the panel's "+ Estimate" opens it so). */
let kind = (() => {
  try {
    return JSON.parse(new URLSearchParams(window.location.search).get('data') || '{}').kind === 'estimate' ? 'estimate' : 'invoice';
  } catch {
    return 'invoice';
  }
})();

/** The mode switch: the same draft creates an invoice or an estimate. */
function kindSection() {
  const option = (value, label) => h('label', { class: 'inline' },
    h('input', {
      type: 'radio', name: 'kind', id: `kind-${value}`, value, checked: kind === value,
      onchange: () => { kind = value; render(); },
    }), ` ${label}`);
  return h('fieldset', { class: 'kind', id: 'kind' },
    h('legend', {}, 'Create'),
    option('invoice', 'Invoice'),
    option('estimate', 'Estimate (quote)'),
    kind === 'estimate'
      ? h('p', { class: 'hint', id: 'kind-hint' }, 'QuickBooks keeps it as an estimate the customer can accept; it expires after the days set in the settings (30 unless changed), so the due date does not apply.')
      : null);
}

function render() {
  const active = focusState();
  const what = kind === 'estimate' ? 'estimate' : 'invoice';
  const formEl = h('form', { id: 'invoice-form', novalidate: true, onkeydown: enterMovesOn, onsubmit: (e) => { e.preventDefault(); create(); } },
    h('h1', {}, `New ${what} for “${state.draft.deal.title}”`),
    kindSection(),
    h('fieldset', { id: 'form-body', class: 'plain' },
      customerSection(),
      // An estimate quotes the whole deal: parts are for invoices only.
      kind === 'estimate' ? null : partSection(),
      detailsSection(),
      itemsSection(),
      totalsSection()),
    errorsBox(),
    h('div', { class: 'actions sticky' },
      h('button', { type: 'button', id: 'cancel', onclick: close }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary', id: 'create' }, kind === 'estimate' ? 'Create estimate' : submitLabel())));
  mount(formEl);
  const unplaced = showFieldErrors(formEl, currentErrors());
  if (unplaced.length) {
    const box = document.getElementById('form-errors');
    box.classList.add('notice');
    box.append(h('ul', {}, unplaced.map((e) => h('li', { class: 'error' }, e.message))));
  }
  tooltips(formEl);
  restoreFocus(active);
}

// ---------------------------------------------------------------- create

function body(confirmDuplicate, confirmOver) {
  const { form } = state;
  const total = preview(form).total;
  const clean = (v) => (v === '' ? null : v);
  const billed = kind === 'estimate' ? undefined : partOfBody();
  return {
    ...form,
    due_date: clean(form.due_date),
    lines: form.lines.map((l) => ({ ...l, quantity: l.quantity || '0', unit_price: l.unit_price || '0' })),
    // A part's total is the server's to compute (its lines are the deal's, scaled).
    expected_total: billed ? null : total.toFixed(2),
    confirm_duplicate: Boolean(confirmDuplicate),
    ...(billed ? { part: billed } : {}),
    // Over what is left: a part, or the whole deal on top of parts already invoiced.
    ...(kind === 'estimate' ? {} : { confirm_over_invoice: Boolean(confirmOver) }),
  };
}

/** Shows what went wrong where the rep looks: the first problem, in view and focused. */
function showProblems() {
  render();
  const invalid = document.querySelector('#invoice-form [aria-invalid="true"], #invoice-form .field-error');
  const box = document.getElementById('form-errors');
  reveal(invalid && !box.contains(invalid) ? invalid : box);
}

async function send(payload) {
  const path = kind === 'estimate' ? 'estimates' : 'invoices';
  // Not the invoice's key: the same form may become both, each exactly once.
  const key = kind === 'estimate' ? `${idempotencyKey}-estimate` : idempotencyKey;
  const body = kind === 'estimate' ? { ...payload, confirm_duplicate: false } : payload;
  return api('POST', `/api/deals/${state.deal}/${path}`, { body, headers: { 'Idempotency-Key': key } });
}

async function create() {
  clearFieldErrors(document.getElementById('invoice-form'));
  state.generalErrors = [];
  state.fieldErrors = [];
  const pending = pendingProblem();
  if (pending) {
    state.fieldErrors = [pending];
    showProblems();
    return;
  }
  let payload;
  try {
    payload = body(false);
  } catch (e) {
    state.generalErrors = [e instanceof PartInputError
      ? { field: 'part', message: e.message }
      : { field: 'lines', message: 'Quantities and prices must be numbers such as 2 or 19.90.' }];
    showProblems();
    return;
  }
  const button = document.getElementById('create');
  await busy(button, async () => {
    try {
      let created;
      try {
        created = await send(payload);
      } catch (e) {
        if (e instanceof Problem && e.is('over-invoice')) {
          const over = await confirmAction({ title: 'Invoice more than what is left?', description: e.message, okText: 'Invoice anyway' });
          if (!over) {
            state.generalErrors = [{ field: 'part', message: e.message }];
            showProblems();
            return;
          }
          created = await send(body(false, true));
        } else {
          if (!(e instanceof Problem && e.is('possible-duplicate'))) throw e;
          const again = await confirmAction({ title: 'Create another invoice?', description: e.message, okText: 'Create another' });
          if (!again) return;
          created = await send(body(true));
        }
      }
      if (created.estimate) {
        const e = created.estimate;
        const number = e.doc_number || e.estimate_id;
        mount(stateView(`Estimate ${number} created`, `${money(e.total, e.currency)} for ${e.customer_name || 'the customer'}.`));
        await snackbar(`Estimate ${number} created in QuickBooks.`);
        await close();
        return;
      }
      const number = created.invoice.doc_number || created.invoice.id;
      mount(stateView(`Invoice ${number} created`, `${money(created.invoice.total, created.invoice.currency)} for ${created.invoice.customer_name || 'the customer'}.`));
      await snackbar(`Invoice ${number} created in QuickBooks.`);
      await close();
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      if (e.errors.length) state.fieldErrors = e.errors;
      else state.generalErrors = [{ field: '', message: e.message }];
      showProblems();
    }
  }, { label: 'Creating…', scope: document.getElementById('form-body') });
}

async function close() {
  try {
    await command(AppExtensionsSDK.Command.CLOSE_MODAL);
  } catch {
    // Not in a modal: nothing to close.
  }
}

// ---------------------------------------------------------------- load

async function load() {
  let draft;
  try {
    [draft] = await Promise.all([api('GET', `/api/deals/${state.deal}/draft`), formatReady]);
  } catch (e) {
    mount(e instanceof Problem ? problemView(e, load) : stateView('Something went wrong', e.message));
    return;
  }
  state.draft = draft;
  startingPart(draft.progress);
  state.form = structuredClone(draft.form);
  state.lineKeys = state.form.lines.map(() => newKey());
  state.taxNotes = new Map((draft.lines || []).map((hint) => [state.lineKeys[hint.index], hint.tax_note]).filter(([, note]) => note));
  rememberOriginals();
  if (!state.form.bill_email && draft.customer.block.email) state.form.bill_email = draft.customer.block.email;
  state.updateCustomer = Boolean(draft.customer.update_customer);
  // What blocks creation, shown from the start (unlinked lines and customer have their warnings).
  // (The tax rate's own note says why none is chosen.)
  state.fieldErrors = (draft.problems || []).filter((p) => p.field !== 'customer_id' && !/^lines\[\d+\]\.item_id$/.test(p.field)
    && !(p.field === 'txn_tax_code' && draft.tax_note));
  const link = draft.customer.linked;
  if (link && state.form.customer_id) {
    state.customer = { id: link.customer_id, display_name: link.display_name, currency: link.currency, active: true };
  }
  render();
}

setRenderer(render);

(async () => {
  state.deal = dealId();
  if (!state.deal) {
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
