// "What to invoice" in the create modal: the whole deal, a deposit (a percentage or an amount of
// the deal) or the rest of it, with the deal's billing progress from the draft. The server
// turns the part into lines (`shared::domain::progress`) and says, in a sentence, when it is
// more than what is left; this page only collects the choice. (Chosen lines and quantities are
// taken by the API, not offered here yet.)

import { h, money } from './common.js';
import { field, input } from './form-controls.js';
import { clearErrorsFor, render, state } from './form-state.js';

/** The rep's choice: mode `whole` | `percentage` | `amount` | `rest`, and the typed values. */
export const part = { mode: 'whole', percent: '', amount: '' };

const LABELS = {
  whole: 'Create invoice',
  percentage: 'Create deposit invoice',
  amount: 'Create deposit invoice',
  rest: 'Invoice the rest',
};

/** What the create button says for the chosen mode. */
export function submitLabel() {
  return LABELS[part.mode] || LABELS.whole;
}

/** A typed number (`30`, `30,5`, `1 000.50`) as the API takes it, or `null`. */
function typed(text) {
  const t = String(text || '').replace(/[\s\u00a0\u202f']/g, '').replace(',', '.');
  return /^\d+(\.\d+)?$/.test(t) ? t : null;
}

/**
 * The create body's `part` for the chosen mode (`undefined` for the whole deal); throws a
 * sentence when the typed value is not a number.
 */
export function partOfBody() {
  switch (part.mode) {
    case 'percentage': {
      const percent = typed(part.percent);
      if (percent === null) throw new Error('Type the percentage of the deal as a number, such as 30.');
      return { kind: 'percentage', percent };
    }
    case 'amount': {
      const amount = typed(part.amount);
      if (amount === null) throw new Error('Type the amount to invoice as a number, such as 500 or 500.50.');
      return { kind: 'amount', amount };
    }
    case 'rest':
      return { kind: 'rest' };
    default:
      return undefined;
  }
}

function choose(mode) {
  part.mode = mode;
  clearErrorsFor('part');
  render();
  const first = document.getElementById(mode === 'percentage' ? 'part-percent' : mode === 'amount' ? 'part-amount' : `part-mode-${mode}`);
  if (first) first.focus();
}

function choice(mode, label) {
  return h('div', { class: 'radio' },
    h('input', { type: 'radio', name: 'part-mode', id: `part-mode-${mode}`, value: mode, checked: part.mode === mode, onchange: () => choose(mode) }),
    h('label', { for: `part-mode-${mode}` }, label));
}

/** The section: the progress, the four choices and the value the chosen one needs. */
export function partSection() {
  const p = state.draft.progress;
  const currency = p ? p.currency : state.form.currency;
  const m = (v) => money(v, currency);
  const invoicedAny = p && Number(p.invoices) > 0;
  return h('fieldset', { class: 'section', id: 'part-section', dataset: { field: 'part' } },
    h('legend', {}, 'What to invoice'),
    p ? h('p', { class: 'hint', id: 'part-progress' },
      `Deal value ${m(p.deal_value)} · invoiced ${m(p.invoiced)} · paid ${m(p.paid)} · left to invoice ${m(p.left)} (amounts before tax).`) : null,
    choice('whole', 'The whole deal'),
    choice('percentage', 'A deposit: a percentage of the deal'),
    choice('amount', 'A deposit: an amount'),
    choice('rest', p ? `The rest: ${m(p.left)}` : 'The rest'),
    part.mode === 'percentage'
      ? field('Percentage of the deal', 'part-percent',
        input('part-percent', part.percent, (v) => { part.percent = v; clearErrorsFor('part'); }, { inputmode: 'decimal', required: true, 'aria-describedby': 'part-percent-hint' }),
        'part-percent', 'Each line of the deal is billed at this percentage; QuickBooks adds the tax of each line.')
      : null,
    part.mode === 'amount'
      ? field(`Amount before tax (${currency})`, 'part-amount',
        input('part-amount', part.amount, (v) => { part.amount = v; clearErrorsFor('part'); }, { inputmode: 'decimal', required: true, 'aria-describedby': 'part-amount-hint' }),
        'part-amount', 'Spread over the deal\'s lines in proportion; QuickBooks adds the tax of each line.')
      : null,
    part.mode !== 'whole'
      ? h('p', { class: 'hint', id: 'part-note' }, invoicedAny || part.mode !== 'rest'
        ? 'The totals below are the whole deal\'s: this invoice bills the part chosen here.'
        : 'Nothing is invoiced yet: the rest is the whole deal.')
      : null);
}
