// Invoicing in another currency than the deal's: the prices are converted with a rate the rep
// sees (QuickBooks' own rate for the invoice date, editable) and confirms — or the deal's
// currency is kept. Never the same numbers under another currency code: until the rep confirms,
// the form stays in its currency and Create says what is missing.

import { api, h, money, reveal } from './common.js';
import { Dec } from './decimal.js';
import { clearErrorsFor, dealCurrency, render, state } from './form-state.js';
import { preview } from './totals.js';

function converted(value, rate) {
  return Dec.of(value).mul(rate).round(2).toFixed(2);
}

function convertedDiscount(discount, rate) {
  if (!discount || discount.kind !== 'amount') return discount ? { ...discount } : null;
  return { kind: 'amount', value: converted(discount.value, rate) };
}

/** Remembers the deal's prices (in its currency) of the draft's lines and discounts. */
export function rememberOriginals() {
  state.form.lines.forEach((line, i) => {
    state.originals.set(state.lineKeys[i], { unit_price: line.unit_price, discount: line.discount ? { ...line.discount } : null });
  });
  state.originalDiscounts = structuredClone(state.form.discounts || []);
}

/** Prices of every line and discount for `rate` from the deal's currency (`null`: the deal's own). */
function reprice(rate) {
  const previous = state.form.conversion ? Dec.of(state.form.conversion.rate) : Dec.of(1);
  const target = rate || Dec.of(1);
  state.form.lines.forEach((line, i) => {
    const key = state.lineKeys[i];
    const original = state.originals.get(key);
    if (original && !state.edited.has(key)) {
      line.unit_price = rate ? converted(original.unit_price, rate) : original.unit_price;
      line.discount = rate ? convertedDiscount(original.discount, rate) : (original.discount && { ...original.discount });
    } else {
      // Typed in the current currency: from it to the new one.
      const factor = target.div(previous);
      line.unit_price = converted(line.unit_price || '0', factor);
      line.discount = convertedDiscount(line.discount, factor);
    }
  });
  state.form.discounts = (state.originalDiscounts || []).map((d) => ({
    description: d.description,
    discount: rate ? convertedDiscount(d.discount, rate) : { ...d.discount },
  }));
  state.edited.clear();
  state.form.expected_total = null;
}

/** The rep chose another currency in the select. */
export async function askToChange(to) {
  if (to === state.form.currency) {
    state.pending = null;
    render();
    return;
  }
  if (to === dealCurrency()) {
    backToDealCurrency();
    return;
  }
  const from = dealCurrency();
  state.pending = { to, loading: true, rateText: '' };
  render();
  try {
    const q = new URLSearchParams({ from, to, date: state.form.txn_date || '' });
    const r = await api('GET', `/api/quickbooks/exchange-rate?${q}`);
    const rateText = r.rate === null || r.rate === undefined ? '' : Dec.of(r.rate).toString();
    state.pending = { to, rateText, quickbooksRate: rateText, as_of: r.as_of, note: r.note || null };
  } catch (e) {
    state.pending = { to, rateText: '', error: e.message };
  }
  render();
  const input = document.getElementById('conversion-rate');
  if (input) input.focus();
}

/** Converts the prices with the rate shown (the rep confirmed it). */
export function confirmConversion() {
  const p = state.pending;
  const rate = Dec.parse((p.rateText || '').replace(',', '.'));
  if (!rate || rate.cmp(0) <= 0) {
    p.error = `Type the exchange rate: how many ${p.to} one ${dealCurrency()} is worth.`;
    render();
    reveal(document.getElementById('conversion-error'));
    return;
  }
  reprice(rate);
  const fromQuickBooks = p.quickbooksRate && Dec.of(p.quickbooksRate).cmp(rate) === 0;
  state.form.currency = p.to;
  state.form.conversion = {
    from: dealCurrency(),
    to: p.to,
    rate: rate.toString(),
    source: fromQuickBooks ? 'quickbooks' : 'manual',
    as_of: fromQuickBooks ? p.as_of : null,
  };
  state.pending = null;
  clearErrorsFor('currency');
  clearErrorsFor('conversion');
  render();
  const note = document.getElementById('conversion-note');
  if (note) note.focus();
}

/** Back to the deal's currency and its own prices. */
export function backToDealCurrency() {
  reprice(null);
  state.form.currency = dealCurrency();
  state.form.conversion = null;
  state.pending = null;
  clearErrorsFor('currency');
  clearErrorsFor('conversion');
  render();
}

/** The rep keeps the currency the form is in. */
export function keepCurrency() {
  state.pending = null;
  render();
  const select = document.getElementById('currency');
  if (select) select.focus();
}

function rateSource(p) {
  if (p.quickbooksRate && p.rateText === p.quickbooksRate) return `QuickBooks' rate for ${p.as_of}.`;
  if (p.rateText) return 'A rate you typed.';
  return '';
}

/** The conversion the rep is asked to confirm (while another currency is pending). */
function pendingBox(p) {
  const from = dealCurrency();
  let estimate = null;
  const rate = Dec.parse((p.rateText || '').replace(',', '.'));
  try {
    const total = preview(state.form).total;
    if (rate && rate.cmp(0) > 0) {
      estimate = h('p', { id: 'conversion-estimate' }, `Total ${money(total.toFixed(2), from)} → about ${money(total.mul(rate).round(2).toFixed(2), p.to)}`);
    }
  } catch {
    estimate = null;
  }
  return h('section', { class: 'conversion notice', id: 'conversion', 'aria-labelledby': 'conversion-h' },
    h('h2', { id: 'conversion-h' }, `Invoice in ${p.to}?`),
    h('p', {}, `The deal's prices are in ${from}. To invoice in ${p.to}, every price and amount discount is converted with this rate:`),
    p.loading ? h('p', { class: 'muted', 'aria-live': 'polite' }, 'Reading QuickBooks\u2019 exchange rate…') : null,
    p.note ? h('p', { class: 'warning' }, p.note) : null,
    h('div', { class: 'rate-row' },
      h('label', { for: 'conversion-rate' }, `1 ${from} =`),
      h('input', {
        id: 'conversion-rate', inputmode: 'decimal', autocomplete: 'off', value: p.rateText || '', disabled: Boolean(p.loading),
        oninput: (e) => {
          p.rateText = e.target.value.trim();
          p.error = null;
          const source = document.getElementById('conversion-source');
          if (source) source.textContent = rateSource(p);
        },
        onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); confirmConversion(); } },
      }),
      h('span', {}, p.to)),
    h('p', { class: 'hint', id: 'conversion-source' }, rateSource(p)),
    estimate,
    p.error ? h('p', { class: 'field-error', id: 'conversion-error', role: 'alert' }, p.error) : null,
    h('p', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: 'convert-currency', disabled: Boolean(p.loading), onclick: confirmConversion }, `Convert prices to ${p.to}`),
      h('button', { type: 'button', id: 'keep-currency', onclick: keepCurrency }, `Keep ${state.form.currency}`)));
}

/** What the currency part says: the pending conversion, or how the prices were converted. */
export function currencyBox() {
  if (state.pending) return pendingBox(state.pending);
  const c = state.form.conversion;
  if (c) {
    const source = c.source === 'quickbooks' && c.as_of ? ` (QuickBooks' rate for ${c.as_of})` : ' (your rate)';
    return h('p', { class: 'conversion-note', id: 'conversion-note', tabindex: '-1' },
      `Prices converted from ${c.from} at 1 ${c.from} = ${c.rate} ${c.to}${source}. `,
      h('button', { type: 'button', class: 'link', id: 'undo-conversion', onclick: backToDealCurrency }, `Back to ${c.from}`));
  }
  const theirs = state.customer && state.customer.currency;
  if (theirs && theirs !== state.form.currency) {
    return h('div', { class: 'notice', id: 'currency-mismatch' },
      h('p', {}, `${state.customer.display_name} is a ${theirs} customer in QuickBooks, and QuickBooks invoices a customer in its own currency. The deal's prices are in ${state.form.currency}.`),
      h('p', { class: 'actions' },
        h('button', { type: 'button', id: 'convert-to-customer', onclick: () => askToChange(theirs) }, `Invoice in ${theirs} (convert the prices)`)));
  }
  return null;
}

/** What blocks Create while a currency change waits for the rep. */
export function pendingProblem() {
  const p = state.pending;
  return p ? { field: 'currency', message: `Convert the prices to ${p.to} (confirm the rate), or keep ${state.form.currency}.` } : null;
}
