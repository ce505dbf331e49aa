// "Invoice part…" on an accepted estimate in the panel's Estimates section: a percentage of the
// estimate, an amount, or the rest, sent as the `part` of `POST …/estimates/{id}/invoice`. The
// server turns the part into lines and says in a sentence what is wrong or how much is left; a
// part over what is left is offered again as "Invoice anyway" (`confirm_over_invoice`). Every
// control is native and labelled (keyboard-usable); it wraps within the 320 px panel.

import { api, busy, h, money, Problem, snackbar, typedNumber } from './common.js';

// One Idempotency-Key per estimate and request body until it succeeds: a retry after a failure
// sends the same one (never a second invoice), a new part after a success gets a new one.
const keys = new Map();
const keyFor = (id, body) => {
  const k = `${id} ${JSON.stringify(body)}`;
  if (!keys.has(k)) keys.set(k, crypto.randomUUID());
  return [k, keys.get(k)];
};

// The forms the rep has open, by estimate id, with what was chosen and typed: the panel
// re-renders while it is open (the poll, a refresh from QuickBooks) and must not close a form or
// drop a number under the rep's hands. Forgotten once the part is made or the form closed.
const open = new Map();

const MODES = {
  percentage: { choice: 'Percentage', label: 'Percentage of the estimate (%)', example: 'Type the percentage of the estimate as a number, such as 30.' },
  amount: { choice: 'Amount', label: 'Amount before tax', example: 'Type the amount to invoice as a number, such as 500 or 500.50.' },
  rest: { choice: 'The rest', label: null, example: null },
};

/** "Invoiced 300.00 USD of 1,000.01 USD · 700.01 USD left" once an invoice bills the estimate. */
export function billingLine(estimate) {
  if (estimate.invoiced === undefined || estimate.invoiced === null || estimate.basis === undefined) return null;
  const m = (v) => money(v, estimate.currency);
  return h('p', { class: 'estimate-billing', dataset: { invoiced: estimate.invoiced, left: estimate.left } },
    `Invoiced ${m(estimate.invoiced)} of ${m(estimate.basis)} · ${m(estimate.left)} left`);
}

/**
 * The "Invoice part…" button and its form for `estimate` of `deal` (`number`: how the rep knows
 * it); `reload` reads the panel again after an invoice was made.
 */
export function partControl(deal, estimate, number, reload) {
  const id = estimate.id;
  const base = `part-${id}`;
  const kept = open.get(id);
  let mode = kept ? kept.mode : 'percentage';
  const label = h('label', { for: `${base}-value` }, MODES.percentage.label);
  const value = h('input', {
    id: `${base}-value`, inputmode: 'decimal', autocomplete: 'off', 'aria-describedby': `${base}-error`,
    oninput: () => remember(),
  });
  const remember = () => {
    if (open.has(id)) open.set(id, { ...open.get(id), mode, value: value.value });
  };
  const valueField = h('div', { class: 'field part-value' }, label, value);
  const error = h('p', { class: 'field-error', id: `${base}-error`, role: 'alert' });
  const anyway = h('button', { type: 'button', class: 'small', id: `${base}-anyway`, hidden: true }, 'Invoice anyway');
  const submit = h('button', { type: 'submit', class: 'small primary', id: `${base}-submit` }, 'Invoice part');
  const choose = (next) => {
    mode = next;
    const { label: text } = MODES[next];
    valueField.hidden = !text;
    if (text) label.textContent = next === 'amount' ? `${text} (${estimate.currency})` : text;
    showError('');
    remember();
  };
  const showError = (text, overInvoice = false) => {
    error.textContent = text;
    value.setAttribute('aria-invalid', text && !overInvoice && mode !== 'rest' ? 'true' : 'false');
    anyway.hidden = !overInvoice;
    if (open.has(id)) open.set(id, { ...open.get(id), error: text, overInvoice });
  };
  const choices = h('fieldset', { class: 'plain part-kind' },
    h('legend', {}, 'Part to invoice'),
    Object.entries(MODES).map(([key, { choice }]) => h('span', { class: 'radio' },
      h('input', {
        type: 'radio', name: `${base}-mode`, id: `${base}-${key}`, value: key, checked: key === mode,
        onchange: () => choose(key),
      }),
      h('label', { for: `${base}-${key}` }, choice))));
  const body = (confirm) => {
    let part;
    if (mode === 'rest') part = { kind: 'rest' };
    else {
      const typed = typedNumber(value.value);
      if (typed === null) return null;
      part = mode === 'percentage' ? { kind: 'percentage', percent: typed } : { kind: 'amount', amount: typed };
    }
    return confirm ? { part, confirm_over_invoice: true } : { part };
  };
  const send = async (confirm, button) => {
    const request = body(confirm);
    if (!request) {
      showError(MODES[mode].example);
      value.focus();
      return;
    }
    const [k, key] = keyFor(id, request);
    try {
      const answer = await busy(button, () => api('POST', `/api/deals/${deal}/estimates/${id}/invoice`, {
        body: request, headers: { 'Idempotency-Key': key },
      }), { label: 'Invoicing…', scope: choices });
      keys.delete(k);
      open.delete(id);
      snackbar(answer.message, answer.open_url ? { url: answer.open_url, label: 'Open invoice' } : undefined);
      await reload();
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      if (e.status >= 400 && e.status < 500) keys.delete(k);
      const detail = e.errors.length ? e.errors.map((x) => x.message).join(' ') : e.message;
      showError(detail, e.is('over-invoice') && !confirm);
      (e.is('over-invoice') && !confirm ? anyway : value.isConnected && !valueField.hidden ? value : error).focus();
    }
  };
  anyway.addEventListener('click', (event) => send(true, event.currentTarget));
  const form = h('form', {
    class: 'part-form', id: `${base}-form`, hidden: true, novalidate: true,
    'aria-label': `Invoice part of estimate ${number}`,
    onsubmit: (event) => { event.preventDefault(); send(false, submit); },
  }, choices, valueField, h('div', { class: 'toolbar' }, submit, anyway), error);
  error.setAttribute('tabindex', '-1');
  const toggle = h('button', {
    type: 'button', class: 'small', dataset: { action: 'invoice-part' }, 'aria-expanded': 'false',
    'aria-controls': `${base}-form`, 'aria-label': `Invoice part of estimate ${number}`,
    id: `${base}-toggle`,
    onclick: () => {
      const opening = form.hidden;
      form.hidden = !opening;
      toggle.setAttribute('aria-expanded', String(opening));
      if (opening) {
        open.set(id, { mode, value: value.value });
        document.getElementById(`${base}-${mode}`)?.focus();
      } else {
        open.delete(id);
      }
    },
  }, 'Invoice part…');
  if (kept) {
    value.value = kept.value || '';
    choose(mode);
    if (kept.error) showError(kept.error, kept.overInvoice);
    form.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
  }
  return { toggle, form };
}
