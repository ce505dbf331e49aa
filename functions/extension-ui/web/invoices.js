// All invoices of the QuickBooks customer linked to the deal, in a chosen time frame, each with
// link / unlink to the deal being viewed.

import { api, busy, command, dealId, h, isoDate, money, mount, pageReady, Problem, problemView, snackbar, stateView, statusFlag, tooltips } from './common.js';

/* global AppExtensionsSDK */

const deal = dealId();
const today = new Date();
const daysAgo = (n) => { const d = new Date(today); d.setDate(d.getDate() - n); return isoDate(d); };
let range = { from: daysAgo(365), to: isoDate(today) };
let page = null;
let invoices = [];

async function load(more = false) {
  const q = new URLSearchParams({ from: range.from, to: range.to, limit: '25' });
  if (more && page && page.next_cursor) q.set('cursor', page.next_cursor);
  try {
    page = await api('GET', `/api/deals/${deal}/customer-invoices?${q}`);
    invoices = more ? invoices.concat(page.invoices) : page.invoices;
    render();
  } catch (e) {
    if (e instanceof Problem && e.status === 422) {
      render(e.message);
      return;
    }
    mount(e instanceof Problem ? problemView(e, () => load()) : stateView('Something went wrong', e.message));
  }
}

function render(error) {
  const presets = [[30, 'Last 30 days'], [90, 'Last 90 days'], [365, 'Last 12 months'], [730, 'Last 2 years']];
  const filter = h('form', { class: 'grid filter', id: 'time-frame', onsubmit: (e) => { e.preventDefault(); range = { from: document.getElementById('from').value, to: document.getElementById('to').value }; load(); } },
    h('div', { class: 'field' }, h('label', { for: 'preset' }, 'Time frame'),
      h('select', { id: 'preset', onchange: (e) => { const n = Number(e.target.value); if (n) { range = { from: daysAgo(n), to: isoDate(today) }; load(); } } },
        h('option', { value: '' }, 'Custom'), presets.map(([n, l]) => h('option', { value: n, selected: range.from === daysAgo(n) && range.to === isoDate(today) }, l)))),
    h('div', { class: 'field', dataset: { field: 'from' } }, h('label', { for: 'from' }, 'From'), h('input', { type: 'date', id: 'from', value: range.from })),
    h('div', { class: 'field', dataset: { field: 'to' } }, h('label', { for: 'to' }, 'To'), h('input', { type: 'date', id: 'to', value: range.to })),
    h('div', { class: 'field' }, h('span', { class: 'label-spacer', 'aria-hidden': 'true' }, ' '), h('button', { type: 'submit', id: 'apply' }, 'Show')));
  const who = page && page.customer
    ? h('p', { id: 'customer' }, 'Invoices of ', h('strong', {}, page.customer.display_name), ' in QuickBooks.')
    : h('p', { class: 'warning', id: 'customer' }, 'This deal\'s organization or person is not linked to a QuickBooks customer yet. Create an invoice to link one.');
  const list = invoices.length
    ? h('table', { class: 'all-invoices', id: 'all-invoices' },
      h('thead', {}, h('tr', {}, ['Number', 'Date', 'Status', 'Total', 'Deal'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, invoices.map((inv) => h('tr', { dataset: { invoiceId: inv.invoice_id, linked: String(inv.linked) } },
        h('td', {}, inv.doc_number || inv.invoice_id), h('td', {}, inv.date || ''), h('td', {}, statusFlag(inv.status)),
        h('td', {}, money(inv.total, inv.currency)),
        h('td', {}, inv.linked
          ? h('button', { type: 'button', class: 'link', 'aria-label': `Unlink invoice ${inv.doc_number || inv.invoice_id} from this deal`, onclick: (e) => busy(e.currentTarget, () => toggle(inv, false)) }, 'Unlink')
          : h('button', { type: 'button', 'aria-label': `Link invoice ${inv.doc_number || inv.invoice_id} to this deal`, onclick: (e) => busy(e.currentTarget, () => toggle(inv, true)) }, 'Link'))))))
    : h('p', { class: 'muted', id: 'all-invoices' }, 'No invoices in this time frame.');
  mount(h('h1', {}, 'All invoices of the customer'), filter, error ? h('p', { class: 'field-error', role: 'alert' }, error) : null, who, list,
    page && page.next_cursor ? h('button', { type: 'button', id: 'more', onclick: (e) => busy(e.currentTarget, () => load(true)) }, 'Show more') : null,
    h('p', { class: 'actions' }, h('button', { type: 'button', id: 'close', onclick: () => command(AppExtensionsSDK.Command.CLOSE_MODAL).catch(() => {}) }, 'Close')));
  tooltips();
}

async function toggle(inv, link) {
  try {
    const answer = await api(link ? 'PUT' : 'DELETE', `/api/deals/${deal}/invoice-links/${inv.invoice_id}`);
    inv.linked = link;
    snackbar(answer.message || (link ? 'Linked to the deal.' : 'Unlinked from the deal.'));
  } catch (e) {
    snackbar(e.message);
  }
  render();
}

(async () => {
  if (!deal) {
    mount(stateView('No deal', 'Open this window from a deal.'));
    return;
  }
  if (!(await pageReady())) return;
  await load();
})();
