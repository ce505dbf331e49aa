// "What to invoice" in the create modal: the whole deal, a deposit (a percentage or an amount of
// the deal) or the rest of it, with the deal's billing progress from the draft. The server
// turns the part into lines (`shared::domain::progress`) and says, in a sentence, when it is
// more than what is left; this page only collects the choice.

import { h, money, typedNumber as typed } from './common.js';
import { field, input } from './form-controls.js';
import { clearErrorsFor, render, state } from './form-state.js';

/**
 * The rep's choice: mode `whole` | `percentage` | `amount` | `lines` | `rest`, the typed values,
 * and for `lines` the chosen lines (by line key: the quantity typed, the line's own at first).
 */
export const part = { mode: 'whole', percent: '', amount: '', chosen: new Map() };

const LABELS = {
  whole: 'Create invoice',
  percentage: 'Create deposit invoice',
  amount: 'Create deposit invoice',
  lines: 'Invoice the chosen lines',
  rest: 'Invoice the rest',
};

/** A typed value of the part that is not a number (its message says what to type). */
export class PartInputError extends Error {}

/** What the create button says for the chosen mode. */
export function submitLabel() {
  return LABELS[part.mode] || LABELS.whole;
}


/**
 * The create body's `part` for the chosen mode (`undefined` for the whole deal); throws a
 * sentence when the typed value is not a number.
 */
export function partOfBody() {
  switch (part.mode) {
    case 'percentage': {
      const percent = typed(part.percent);
      if (percent === null) throw new PartInputError('Type the percentage of the deal as a number, such as 30.');
      return { kind: 'percentage', percent };
    }
    case 'amount': {
      const amount = typed(part.amount);
      if (amount === null) throw new PartInputError('Type the amount to invoice as a number, such as 500 or 500.50.');
      return { kind: 'amount', amount };
    }
    case 'lines': {
      const lines = [];
      state.lineKeys.forEach((key, index) => {
        if (!part.chosen.has(key)) return;
        const quantity = typed(part.chosen.get(key));
        if (quantity === null) throw new PartInputError(`Type the quantity to invoice of line ${index + 1} as a number, such as 2.`);
        lines.push({ index, quantity });
      });
      if (!lines.length) throw new PartInputError('Choose at least one line to invoice.');
      return { kind: 'lines', lines };
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

/** One checkbox per line of the form, with the quantity to bill (at most the line's). */
function chosenLines() {
  return h('ul', { class: 'chosen-lines', id: 'part-lines', 'aria-label': 'Lines to invoice' },
    state.form.lines.map((line, index) => {
      const key = state.lineKeys[index];
      const on = part.chosen.has(key);
      const name = line.name || `Line ${index + 1}`;
      return h('li', { class: 'radio' },
        h('input', {
          type: 'checkbox', id: `part-line-${key}`, checked: on,
          onchange: (e) => {
            if (e.target.checked) part.chosen.set(key, String(line.quantity ?? ''));
            else part.chosen.delete(key);
            clearErrorsFor('part');
            render();
          },
        }),
        h('label', { for: `part-line-${key}` }, name),
        on ? h('input', {
          id: `part-line-${key}-qty`, class: 'qty', inputmode: 'decimal', value: part.chosen.get(key),
          'aria-label': `Quantity of ${name} to invoice (the deal has ${line.quantity})`,
          oninput: (e) => { part.chosen.set(key, e.target.value); clearErrorsFor('part'); },
        }) : null);
    }));
}

/**
 * The choice a draft opens with: the rest when part of the deal is invoiced already and some is
 * left (the whole deal again would be an over-invoice), else the whole deal.
 */
export function startingPart(progress) {
  const partly = progress && Number(progress.invoiced) > 0 && Number(progress.left) > 0;
  part.mode = partly ? 'rest' : 'whole';
}

/** The section: the progress, the five choices and the value the chosen one needs. */
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
    choice('lines', 'Chosen lines and quantities'),
    choice('rest', p ? `The rest: ${m(p.left)}` : 'The rest'),
    part.mode === 'lines' ? chosenLines() : null,
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
