// The totals of the create modal and each line's amount and QuickBooks description, updated in
// place as the rep types (no full re-render, so the focus stays where it is).

import { h, money } from './common.js';
import { state } from './form-state.js';
import { lineAmount, lineDescription, preview } from './totals.js';

export function amountText(line) {
  try {
    return `Amount ${money(lineAmount(line).toFixed(2), state.form.currency)}`;
  } catch {
    return 'Amount —';
  }
}

export function descriptionText(line) {
  return `On the invoice: ${lineDescription(state.form.tax_mode, line)}`;
}

function totalsRows() {
  let t;
  try {
    t = preview(state.form);
  } catch {
    return [h('dt', {}, 'Total'), h('dd', { id: 'total' }, '—')];
  }
  const c = state.form.currency;
  return [
    h('dt', {}, 'Subtotal'), h('dd', { id: 'subtotal' }, money(t.subtotal.toFixed(2), c)),
    t.discount.isZero() ? null : [h('dt', {}, 'Discount'), h('dd', { id: 'discount' }, money(t.discount.toFixed(2), c))],
    h('dt', {}, 'Tax'), h('dd', { id: 'tax' }, money(t.tax.toFixed(2), c)),
    h('dt', {}, 'Total'), h('dd', { id: 'total', dataset: { value: t.total.toFixed(2), currency: c } }, money(t.total.toFixed(2), c)),
  ];
}

export function totalsSection() {
  return h('section', { class: 'totals', 'aria-label': 'Totals', id: 'totals', tabindex: '-1' }, h('dl', {}, totalsRows()));
}

export function updateTotals() {
  const totals = document.getElementById('totals');
  if (totals) totals.querySelector('dl').replaceChildren(...totalsRows().flat().filter(Boolean));
  state.form.lines.forEach((line, i) => {
    const key = state.lineKeys[i];
    const amountEl = document.getElementById(`line-${key}-amount`);
    if (amountEl) amountEl.textContent = amountText(line);
    const descriptionEl = document.getElementById(`line-${key}-description`);
    if (descriptionEl) descriptionEl.textContent = descriptionText(line);
  });
}
