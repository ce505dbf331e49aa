// The bulk-invoice modal of the deals list view: the selected deals (`selectedIds`) with each
// one's readiness and the fix for each blocker — link the customer or an item right here, with
// the same link routes as the create form — then the choice of what to create ("Create:
// Invoices / Estimates"), the run, page by page with live progress, and each deal's result (the
// invoice or estimate, or the sentence why not). The batch's id is made here once per selection
// and document and kept for the tab's session, so running again after a timeout or a reload
// resumes the same batch and never makes a second invoice or estimate.

import { api, busy, command, h, money, mount, pageReady, Problem, problemView, query, snackbar, stateView } from './common.js';

/* global AppExtensionsSDK */

const MAX_DEALS = 100;
const READINESS_PAGE = 25;

const selected = [...new Set((query('selectedIds') || '').split(',').map((s) => Number(s.trim())))]
  .filter((n) => Number.isSafeInteger(n) && n > 0);

/** deal id → readiness (from `POST /api/bulk/readiness`), then → the batch's outcome. */
const readiness = new Map();
const outcomes = new Map();
let progress = null;
let running = false;
let runError = null;
/** What the run creates: 'invoice' or 'estimate' (a batch of its own each). */
let documentKind = 'invoice';
/** The open inline fix: { deal, blocker, term, results, error }. */
let fixing = null;

function batchKey() {
  const ids = [...selected].sort((a, b) => a - b).join(',');
  return documentKind === 'estimate' ? `bulk-batch:estimate:${ids}` : `bulk-batch:${ids}`;
}

const estimates = () => documentKind === 'estimate';

function batchId() {
  const key = batchKey();
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = crypto.randomUUID();
    sessionStorage.setItem(key, id);
  }
  return id;
}

async function check(ids) {
  for (let i = 0; i < ids.length; i += READINESS_PAGE) {
    const answer = await api('POST', '/api/bulk/readiness', { body: { deal_ids: ids.slice(i, i + READINESS_PAGE) } });
    for (const deal of answer.deals) readiness.set(deal.deal_id, deal);
  }
}

// ---------------------------------------------------------------- inline fixes

function openFix(deal, blocker) {
  fixing = { deal, blocker, term: '', results: null, error: null };
  render();
  search('');
}

async function search(term) {
  if (!fixing) return;
  fixing.term = term;
  const item = fixing.blocker.kind === 'item';
  const path = item ? '/api/quickbooks/items' : '/api/quickbooks/customers';
  try {
    const answer = await api('GET', `${path}?search=${encodeURIComponent(term)}`);
    if (!fixing || fixing.term !== term) return;
    fixing.results = item ? answer.items : answer.customers.filter((c) => c.active);
    fixing.error = null;
  } catch (e) {
    if (fixing) fixing.error = e.message;
  }
  render();
  const box = document.getElementById('fix-search');
  if (box) {
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }
}

async function link(choice) {
  const { deal, blocker } = fixing;
  try {
    if (blocker.kind === 'item') {
      await api('PUT', `/api/products/${blocker.product_id}/item-link`, { body: { item_id: choice.id } });
      snackbar(`Linked to the QuickBooks item ${choice.name}.`);
    } else {
      await api('PUT', `/api/deals/${deal}/customer-link`, { body: { customer_id: choice.id, update_customer: false } });
      snackbar(`Linked to ${choice.display_name}.`);
    }
    fixing = null;
    // A link may fix other deals too (the same organisation, the same product).
    const open = selected.filter((id) => readiness.get(id) && !readiness.get(id).ready && !readiness.get(id).refused);
    await check(open);
  } catch (e) {
    if (fixing) fixing.error = e.message;
  }
  render();
}

function fixPanel() {
  const item = fixing.blocker.kind === 'item';
  const results = fixing.results === null
    ? h('p', { class: 'muted' }, 'Searching…')
    : fixing.results.length
      ? h('ul', { class: 'choices', id: 'fix-results' }, fixing.results.slice(0, 8).map((c) =>
        h('li', {}, h('button', { type: 'button', class: 'link', onclick: (e) => busy(e.currentTarget, () => link(c)) },
          item ? c.name : `${c.display_name}${c.currency ? ` (${c.currency})` : ''}`))))
      : h('p', { class: 'muted' }, 'Nothing found. Try another word.');
  return h('div', { class: 'fix', id: 'fix' },
    h('label', { for: 'fix-search' }, item ? `QuickBooks item for ${fixing.blocker.need.replace(/^a QuickBooks item for /, '')}` : 'QuickBooks customer'),
    h('input', { id: 'fix-search', type: 'search', value: fixing.term, placeholder: 'Search by name', oninput: (e) => search(e.target.value) }),
    fixing.error ? h('p', { class: 'field-error', role: 'alert' }, fixing.error) : null,
    results,
    h('button', { type: 'button', class: 'link', onclick: () => { fixing = null; render(); } }, 'Cancel'));
}

// ---------------------------------------------------------------- the run

async function run() {
  running = true;
  runError = null;
  render();
  try {
    const id = batchId();
    let view = await api('POST', '/api/bulk/batches', { body: { batch_id: id, deal_ids: selected, document: documentKind } });
    let body = view.progress.blocked > 0 ? { recheck_blocked: true } : undefined;
    show(view);
    for (let pages = 0; view.progress.pending > 0 && pages < 20; pages += 1) {
      const before = view.progress.pending;
      view = await api('POST', `/api/bulk/batches/${id}/run`, { body });
      body = undefined;
      show(view);
      if (view.progress.pending === before) break;
    }
    if (view.progress.pending > 0) runError = `Some deals could not be ${estimates() ? 'given an estimate' : 'invoiced'} yet (see each one). Run again to resume; nothing is created twice.`;
  } catch (e) {
    runError = e instanceof Problem ? e.message : 'The run stopped. Run again to resume; nothing is created twice.';
  }
  running = false;
  render();
}

function show(view) {
  progress = view.progress;
  for (const deal of view.deals) outcomes.set(deal.deal_id, deal);
  render();
}

// ---------------------------------------------------------------- rendering

function resultCell(id) {
  const out = outcomes.get(id);
  if (!out) return null;
  if (out.state === 'created' && out.estimate_id) {
    return h('a', { href: out.open_url, target: '_blank', rel: 'noopener', class: 'result created' },
      `Estimate ${out.doc_number ? `#${out.doc_number}` : out.estimate_id} created · ${money(out.total, out.currency)}`);
  }
  if (out.state === 'created') {
    return h('a', { href: out.open_url, target: '_blank', rel: 'noopener', class: 'result created' },
      `Invoice ${out.doc_number ? `#${out.doc_number}` : out.invoice_id} · ${money(out.total, out.currency)}`);
  }
  if (out.state === 'pending') return h('span', { class: out.error ? 'result failed' : 'muted' }, out.error || 'Waiting…');
  return h('span', { class: 'result not-invoiced' }, out.sentence);
}

function readinessCell(id) {
  const r = readiness.get(id);
  if (!r) return h('span', { class: 'muted' }, 'Checking…');
  if (r.ready) return h('span', { class: 'ready' }, 'Ready');
  const label = outcomes.has(id) ? `${estimates() ? 'No estimate' : 'Not invoiced'} — needs a fix` : 'Needs a fix';
  return h('div', {}, h('span', { class: r.refused ? 'result not-invoiced' : 'blocked' }, r.refused ? r.sentence : label),
    r.blockers.map((b) => h('p', { class: 'blocker' }, b.detail, ' ',
      (b.kind === 'customer' || (b.kind === 'item' && b.product_id))
        ? h('button', { type: 'button', class: 'link', dataset: { fix: b.kind }, onclick: () => openFix(id, b) }, b.kind === 'item' ? 'Link an item' : 'Link a customer')
        : null)),
    fixing && fixing.deal === id ? fixPanel() : null);
}

function row(id) {
  const r = readiness.get(id) || {};
  return h('tr', { dataset: { deal: String(id), state: (outcomes.get(id) || {}).state || (r.ready ? 'ready' : 'blocked') } },
    h('td', {}, h('strong', {}, r.title || `Deal ${id}`), h('div', { class: 'muted' }, r.customer_name || '')),
    h('td', { class: 'num' }, r.total ? money(r.total, r.currency) : ''),
    h('td', {}, shownOutcome(id) ? resultCell(id) : readinessCell(id)));
}

/** A blocked deal shows its readiness (with the fixes) rather than the run's sentence. */
function shownOutcome(id) {
  const out = outcomes.get(id);
  return out && out.state !== 'blocked';
}

function summary() {
  if (progress) {
    const done = progress.total - progress.pending;
    return h('div', { id: 'progress', role: 'status', 'aria-live': 'polite' },
      h('progress', { max: String(progress.total), value: String(done) }),
      h('p', {}, `${done} of ${progress.total} done: ${estimates()
        ? `${progress.created} estimate${progress.created === 1 ? '' : 's'} created, ${progress.blocked + progress.not_invoiced} without an estimate`
        : `${progress.created} invoiced, ${progress.blocked + progress.not_invoiced} not invoiced`}${progress.failed ? `, ${progress.failed} to try again` : ''}.`));
  }
  const all = [...readiness.values()];
  const ready = all.filter((r) => r.ready).length;
  return h('p', { id: 'progress', role: 'status' }, `${ready} of ${selected.length} selected deals are ${estimates() ? 'ready for an estimate' : 'ready to invoice'}.`);
}

/** Invoices or estimates: each a batch of its own (its results shown once it runs). */
function choose(kind) {
  if (running || kind === documentKind) return;
  documentKind = kind;
  outcomes.clear();
  progress = null;
  runError = null;
  render();
  const radio = document.getElementById(`document-${kind}`);
  if (radio) radio.focus();
}

function documentChoice() {
  const option = (value, label) => h('label', { class: 'inline' },
    h('input', {
      type: 'radio', name: 'document', id: `document-${value}`, value, checked: documentKind === value, disabled: running,
      onchange: () => choose(value),
    }), ` ${label}`);
  return h('fieldset', { class: 'kind', id: 'document' },
    h('legend', {}, 'Create:'),
    option('invoice', 'Invoices'),
    option('estimate', 'Estimates'),
    estimates() ? h('p', { class: 'hint muted' }, 'An estimate quotes the whole deal; the customer can accept it in QuickBooks.') : null);
}

function runLabel(left) {
  const deals = `${left} ready deal${left === 1 ? '' : 's'}`;
  if (estimates()) return running ? 'Creating estimates…' : `Create estimates for ${deals}`;
  return running ? 'Invoicing…' : `Invoice ${deals}`;
}

function render() {
  const left = selected.filter((id) => (readiness.get(id) || {}).ready && (outcomes.get(id) || {}).state !== 'created').length;
  mount(
    h('h1', {}, `${estimates() ? 'Estimates for' : 'Invoice'} ${selected.length} selected deal${selected.length === 1 ? '' : 's'}`),
    summary(),
    runError ? h('p', { class: 'field-error', role: 'alert' }, runError) : null,
    h('table', { class: 'bulk', id: 'bulk-deals' },
      h('thead', {}, h('tr', {}, ['Deal', 'Total', 'Readiness / result'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, selected.map(row))),
    documentChoice(),
    h('p', { class: 'actions' },
      left === 0 && !running ? null : h('button', { type: 'button', class: 'primary', id: 'run', disabled: running, onclick: run },
        runLabel(left)),
      h('button', { type: 'button', id: 'close', onclick: () => command(AppExtensionsSDK.Command.CLOSE_MODAL).catch(() => {}) }, 'Close')));
}

(async () => {
  if (!selected.length) {
    mount(stateView('No deals selected', 'Select deals in the deals list, then choose "Bulk invoice".'));
    return;
  }
  if (selected.length > MAX_DEALS) {
    mount(stateView('Too many deals', `${selected.length} deals are selected; at most ${MAX_DEALS} can be invoiced at once. Select fewer.`));
    return;
  }
  if (!(await pageReady())) return;
  render();
  try {
    await check(selected);
  } catch (e) {
    mount(e instanceof Problem ? problemView(e, () => window.location.reload()) : stateView('Something went wrong', e.message));
    return;
  }
  render();
})();
