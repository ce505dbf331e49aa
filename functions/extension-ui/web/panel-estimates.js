// The deal panel's "Estimates" section: each QuickBooks estimate of the deal with its status
// (Pending, Accepted, Rejected, Closed = converted, Expired, Deleted) and its actions — send,
// PDF, open in QuickBooks, the customer's answer (accepted / rejected), delete, and on an accepted
// one "Invoice it" (the invoice made from it, in full — the rest once a part is invoiced — once)
// and "Invoice part…" (a percentage, an amount or the rest, `panel-estimate-part.js`), with
// "Invoiced X of Y · Z left" once an invoice bills it. Every action is a native button
// (keyboard-usable) whose label names the estimate.

import { api, busy, confirmAction, downloadPdf, h, Problem, snackbar, statusFlag } from './common.js';
import { billingLine, partControl } from './panel-estimate-part.js';

// One Idempotency-Key per estimate for the panel's life: a retry after a failure sends the same
// one, so it never makes a second invoice.
const invoiceKeys = new Map();
const invoiceKey = (id) => {
  if (!invoiceKeys.has(id)) invoiceKeys.set(id, crypto.randomUUID());
  return invoiceKeys.get(id);
};

/** Why an action is not possible on an estimate now (`null`: it is). */
function whyNot(action, estimate) {
  const s = estimate.status;
  if (s === 'deleted') return 'The estimate was deleted in QuickBooks.';
  if ((action === 'accept' || action === 'reject') && s === 'closed') {
    return 'The estimate was converted into an invoice: its answer can no longer change.';
  }
  if (action === 'accept' && s === 'accepted') return 'The estimate is already accepted.';
  if (action === 'reject' && s === 'rejected') return 'The estimate is already rejected.';
  if (action === 'invoice' && s !== 'accepted') {
    return s === 'closed'
      ? 'An invoice was already made from this estimate.'
      : 'Only an estimate the customer accepted becomes an invoice: mark it accepted first.';
  }
  return null;
}

/** The section for `list` (`GET …/estimates`); `reload` reads the panel again after an action. */
export function estimatesSection(deal, list, reload) {
  if (!list) return null;
  const estimates = list.estimates || [];
  const run = async (estimate, path, body, done) => {
    try {
      const answer = await api('POST', `/api/deals/${deal}/estimates/${estimate.id}/${path}`, { body });
      snackbar(answer.message || done);
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      snackbar(e.message);
    }
    await reload();
  };
  const invoice = async (estimate, button) => {
    try {
      const answer = await busy(button, () => api('POST', `/api/deals/${deal}/estimates/${estimate.id}/invoice`, {
        headers: { 'Idempotency-Key': invoiceKey(estimate.id) },
      }), { label: 'Invoicing…' });
      snackbar(answer.message, answer.open_url ? { url: answer.open_url, label: 'Open invoice' } : undefined);
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      snackbar(e.message);
    }
    await reload();
  };
  const actions = (estimate, part) => {
    const number = estimate.doc_number || estimate.id;
    // After a part, "Invoice it" bills what is left of the estimate.
    const started = estimate.invoiced !== undefined && estimate.invoiced !== null && Number(estimate.invoiced) > 0;
    const allLabel = started ? 'Invoice the rest' : 'Invoice it';
    const button = (key, label, onclick, reason) => h('button', {
      type: 'button', class: 'small', dataset: { action: key }, disabled: Boolean(reason), title: reason || null,
      'aria-label': `${label} estimate ${number}`, onclick,
    }, label);
    return h('div', { class: 'estimate-actions' },
      // Accepted and not invoiced yet (QuickBooks may leave an invoiced estimate Accepted).
      estimate.status === 'accepted' && !(estimate.invoice_ids || []).length
        ? button('invoice', allLabel, (event) => invoice(estimate, event.currentTarget), whyNot('invoice', estimate))
        : null,
      part ? part.toggle : null,
      button('accept', 'Accepted', () => run(estimate, 'answer', { answer: 'accepted' }, 'Marked accepted.'), whyNot('accept', estimate)),
      button('reject', 'Rejected', () => run(estimate, 'answer', { answer: 'rejected' }, 'Marked rejected.'), whyNot('reject', estimate)),
      button('send', 'Send', () => run(estimate, 'send', undefined, 'Sent.'), whyNot('send', estimate)),
      button('pdf', 'PDF', () => downloadPdf(`/api/deals/${deal}/estimates/${estimate.id}/pdf`, `estimate-${number}.pdf`), whyNot('pdf', estimate)),
      estimate.status === 'deleted' ? null : h('a', {
        class: 'small', href: estimate.open_url, target: '_blank', rel: 'noopener noreferrer',
        'aria-label': `Open estimate ${number} in QuickBooks`,
      }, 'Open'),
      button('delete', 'Delete', async () => {
        const ok = await confirmAction({
          title: `Delete estimate ${number}?`,
          description: 'QuickBooks deletes the estimate for good.',
          okText: 'Delete',
          okColor: 'negative',
        });
        if (ok) await run(estimate, 'delete', { confirm: true }, 'Deleted.');
      }, whyNot('delete', estimate)));
  };
  const row = (estimate) => {
    const number = estimate.doc_number || estimate.id;
    const part = estimate.status === 'accepted' && !(estimate.invoice_ids || []).length
      ? partControl(deal, estimate, number, reload)
      : null;
    const meta = [estimate.txn_date, estimate.expiration_date ? `expires ${estimate.expiration_date}` : null,
      estimate.accepted_by ? `accepted by ${estimate.accepted_by}` : null].filter(Boolean).join(' · ');
    return h('li', { class: 'estimate', dataset: { estimateId: estimate.id, status: estimate.status } },
      h('div', { class: 'invoice-head' },
        h('strong', {}, `Estimate ${number}`), ' ', statusFlag(estimate.status),
        estimate.email_sent ? h('span', { class: 'badge', dataset: { sent: 'true' } }, 'Sent') : null),
      h('div', { class: 'invoice-meta muted' }, meta),
      h('div', { class: 'invoice-amounts' }, 'Total ', h('strong', { class: 'total' }, estimate.total_text)),
      billingLine(estimate),
      actions(estimate, part),
      part ? part.form : null);
  };
  return h('section', { class: 'estimates', id: 'estimates', 'aria-labelledby': 'estimates-h' },
    h('h2', { id: 'estimates-h' }, 'Estimates'),
    estimates.length
      ? h('ul', { class: 'invoices', 'aria-label': 'Estimates' }, estimates.map(row))
      : h('p', { class: 'muted', id: 'no-estimates' }, 'No estimates yet for this deal.'));
}
