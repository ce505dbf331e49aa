// The deal panel: the invoice a rule prepared for review (created in one click, or reviewed in
// the create modal), the deal's invoices with their status flags, the per-currency summary,
// refresh, the "…" actions (send to a typed address, a disabled Void that says why), the activity
// log and the links. It stays current: our store is read again (no QuickBooks call) when the panel
// becomes visible and every POLL_MS while it is; on opening, QuickBooks is asked when what we know
// is older than STALE_MS.

import {
  amount, api, busy, command, confirmAction, dateTime, dealId, downloadPdf, formatReady, h, money, mount, openSettingsButton,
  plausibleEmail, Problem, problemView, sdkReady, snackbar, stateView, statusFlag, tooltips,
} from './common.js';
import { estimatesSection } from './panel-estimates.js';

/* global AppExtensionsSDK */

const deal = dealId();
let openMenu = null;
// What the panel shows: the list's first page and the pages "Show more" added to it.
let shown = null;
let shownActivity = null;
/** The deal's estimates (`GET …/estimates`), or null when they could not be read. */
let shownEstimates = null;
const PAGE = 25;
const LARGEST_PAGE = 100;
/** How often an open, visible panel reads our store again. */
const POLL_MS = 15000;
/** How old what we know may be before opening the panel asks QuickBooks. */
const STALE_MS = 5 * 60 * 1000;
/** The invoice whose inline "send" form is open, and its state: {id, to, error, sending}. */
let sending = null;
/** Invoice id → what is being done to it ("Voiding…"), shown on its row. */
const working = new Map();
let pollTimer = null;
/** The prepared invoice's one-click create: {key, creating, error}. */
let preparing = null;
let panelVisible = true;
let loading = false;

function closeMenu() {
  if (openMenu) {
    openMenu.menu.hidden = true;
    openMenu.button.setAttribute('aria-expanded', 'false');
    openMenu = null;
  }
}

document.addEventListener('click', (e) => {
  if (openMenu && !openMenu.menu.contains(e.target) && e.target !== openMenu.button) closeMenu();
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && openMenu) {
    const { button } = openMenu;
    closeMenu();
    button.focus();
  }
});

/** When this deal was last read from QuickBooks by this browser. */
const refreshedKey = () => `qb-refreshed-${deal}`;

function knownAt(listing) {
  const local = Number(sessionStorage.getItem(refreshedKey()) || 0);
  const synced = listing.synced_at ? Date.parse(listing.synced_at) : 0;
  return Math.max(local, synced || 0);
}

function unsettled(listing) {
  return listing.invoices.some((i) => ['open', 'overdue', 'partially_paid'].includes(i.status));
}

async function load(refresh = false, force = false) {
  if (loading && !refresh && !force) return;
  loading = true;
  // After "Show more", a reload keeps as many invoices listed (up to the largest page).
  const keep = Math.min(Math.max(shown ? shown.invoices.length : 0, PAGE), LARGEST_PAGE);
  try {
    const listing = refresh
      ? await api('POST', `/api/deals/${deal}/invoices/refresh`)
      : await api('GET', `/api/deals/${deal}/invoices${keep > PAGE ? `?limit=${keep}` : ''}`);
    let activity = { events: [] };
    try {
      activity = await api('GET', `/api/deals/${deal}/activity?limit=20`);
    } catch {
      activity = null;
    }
    try {
      shownEstimates = await api('GET', `/api/deals/${deal}/estimates`);
    } catch {
      shownEstimates = null;
    }
    shown = listing;
    shownActivity = activity;
    if (refresh) sessionStorage.setItem(refreshedKey(), String(Date.now()));
    render(listing, activity);
    if (refresh === 'asked') {
      const r = listing.refresh;
      snackbar(r && r.changed ? `Updated ${r.changed} invoice${r.changed === 1 ? '' : 's'} from QuickBooks.` : 'The invoices are up to date.');
    }
  } catch (e) {
    if (e instanceof Problem) mount(problemView(e, () => load()));
    else mount(stateView('Something went wrong', e.message));
  } finally {
    loading = false;
  }
}

/** Opening the panel: our store at once, then QuickBooks when what we know is a few minutes old. */
async function open() {
  await load();
  if (shown && shown.connection.state === 'connected' && unsettled(shown) && Date.now() - knownAt(shown) > STALE_MS) {
    await load(true);
  }
}

/** Reads our store again while the panel is visible (and stops while it is not). */
function poll() {
  clearInterval(pollTimer);
  pollTimer = setInterval(() => {
    if (panelVisible && document.visibilityState === 'visible' && !sending && !working.size && !(preparing && preparing.creating)) load();
  }, POLL_MS);
}

function visible(now) {
  const was = panelVisible;
  panelVisible = now;
  if (now && !was) load();
}

async function showMore() {
  try {
    const next = await api('GET', `/api/deals/${deal}/invoices?cursor=${encodeURIComponent(shown.next_cursor)}`);
    shown = { ...next, invoices: shown.invoices.concat(next.invoices) };
    render(shown, shownActivity);
  } catch (e) {
    snackbar(e.message);
  }
}

function connectionState(connection) {
  switch (connection.state) {
    case 'connected':
      return null;
    case 'needs_reconnect':
      return stateView('QuickBooks needs reconnecting', connection.reason || 'The QuickBooks connection stopped working. Reconnect it in the app settings.', openSettingsButton('Reconnect QuickBooks'));
    case 'disconnected':
      return stateView('QuickBooks is disconnected', 'Connect QuickBooks again in the app settings to create and follow invoices.', openSettingsButton('Connect QuickBooks'));
    default:
      return stateView('QuickBooks is not connected', 'Connect your QuickBooks company in the app settings to create invoices from deals.', openSettingsButton('Connect QuickBooks'));
  }
}

function render(listing, activity) {
  const notConnected = connectionState(listing.connection);
  const toolbar = h('div', { class: 'toolbar' },
    h('button', { type: 'button', class: 'primary', id: 'create-invoice', disabled: Boolean(notConnected), onclick: () => openCreate() }, '+ Invoice'),
    h('button', { type: 'button', id: 'create-estimate', disabled: Boolean(notConnected), onclick: () => openCreate('estimate') }, '+ Estimate'),
    h('button', { type: 'button', id: 'refresh', disabled: Boolean(notConnected), onclick: (e) => busy(e.currentTarget, () => load('asked'), { label: 'Refreshing…' }) }, 'Refresh'),
  );
  const summary = listing.summary.length
    ? h('section', { class: 'summary', id: 'summary', 'aria-labelledby': 'summary-h' },
      h('h2', { id: 'summary-h' }, 'Summary'),
      listing.summary.map((s) => h('dl', { class: 'summary-currency', dataset: { currency: s.currency } },
        h('div', { class: 'summary-code' }, h('dt', { class: 'visually-hidden' }, 'Currency'), h('dd', {}, s.currency)),
        h('div', {}, h('dt', {}, 'Outstanding'), h('dd', {}, amount(s.outstanding))),
        h('div', {}, h('dt', {}, 'Overdue'), h('dd', {}, amount(s.overdue))),
        h('div', {}, h('dt', {}, 'Paid'), h('dd', {}, amount(s.paid))))))
    : null;
  const progress = progressView(listing);
  const list = listing.invoices.length
    ? h('ul', { class: 'invoices', id: 'invoices', 'aria-label': 'Invoices' }, listing.invoices.map(invoiceRow))
    : h('p', { class: 'muted', id: 'no-invoices' }, 'No invoices yet for this deal.');
  const hidden = listing.invoice_count - listing.invoices.length;
  const more = listing.next_cursor && hidden > 0
    ? h('button', { type: 'button', class: 'link', id: 'more-invoices', onclick: (e) => busy(e.currentTarget, showMore) },
      `Show more (${hidden} more invoice${hidden === 1 ? '' : 's'})`)
    : null;
  const links = h('nav', { class: 'links', 'aria-label': 'More' },
    h('button', { type: 'button', class: 'link', id: 'all-invoices', onclick: openAllInvoices }, 'See all invoices'),
    openSettingsButton('Settings'),
    listing.invoice_count > 0
      ? h('button', { type: 'button', class: 'link', id: 'disconnect-customer', onclick: disconnectCustomer }, 'Disconnect customer')
      : null,
  );
  mount(
    notConnected,
    notConnected ? null : toolbar,
    notConnected || !listing.prepared ? null : preparedCard(listing.prepared),
    progress,
    summary,
    notConnected && !listing.invoices.length ? null : list,
    more,
    notConnected ? null : estimatesSection(deal, shownEstimates, () => load(false, true)),
    activity ? activityLog(activity) : null,
    links,
  );
  tooltips();
  if (sending) {
    const field = document.getElementById(`send-to-${sending.id}`);
    if (field && document.activeElement !== field && !sending.focused) {
      sending.focused = true;
      field.focus();
    }
  }
}

/** A share of `whole` in percent (0–100) for the bar's width. */
function share(part, whole) {
  const w = Number(whole);
  return w > 0 ? Math.max(0, Math.min(100, (Number(part) / w) * 100)) : 0;
}

/**
 * The deal's billing progress (deposits, progress invoices), per currency: a bar (paid, then
 * invoiced) and the figures the app computed. Shown once an invoice of the deal bills a part.
 */
function progressView(listing) {
  const parts = listing.invoices.some((i) => i.billing && i.billing.kind !== 'full');
  if (!parts || !listing.progress || !listing.progress.length) return null;
  return h('section', { class: 'progress', id: 'billing-progress', 'aria-labelledby': 'progress-h' },
    h('h2', { id: 'progress-h' }, 'Billing progress'),
    listing.progress.map((p) => {
      const invoiced = share(p.invoiced, p.deal_value);
      const paid = share(p.paid, p.deal_value);
      const label = `${money(p.invoiced, p.currency)} of ${money(p.deal_value, p.currency)} invoiced, ${money(p.paid, p.currency)} paid`;
      // Widths through the CSSOM: the pages' CSP allows no inline style attribute.
      const segment = (cls, width) => {
        const el = h('span', { class: cls });
        el.style.width = `${width}%`;
        return el;
      };
      return h('div', { class: 'progress-currency', dataset: { currency: p.currency } },
        h('div', { class: 'bar', role: 'img', 'aria-label': label },
          segment('bar-paid', paid),
          segment('bar-invoiced', Math.max(0, invoiced - paid))),
        h('dl', { class: 'progress-figures' },
          h('div', {}, h('dt', {}, 'Deal value'), h('dd', { dataset: { figure: 'deal_value' } }, money(p.deal_value, p.currency))),
          h('div', {}, h('dt', {}, 'Invoiced'), h('dd', { dataset: { figure: 'invoiced' } }, money(p.invoiced, p.currency))),
          h('div', {}, h('dt', {}, 'Paid'), h('dd', { dataset: { figure: 'paid' } }, money(p.paid, p.currency))),
          h('div', {}, h('dt', {}, 'Left to invoice'), h('dd', { dataset: { figure: 'left' } }, money(p.left, p.currency))),
          Number(p.over_invoiced) > 0
            ? h('div', { class: 'over' }, h('dt', {}, 'Over-invoiced'), h('dd', { dataset: { figure: 'over_invoiced' } }, money(p.over_invoiced, p.currency)))
            : null));
    }));
}

/** The invoice a rule prepared: what it is, by which rule, and its one-click create. */
function preparedCard(prepared) {
  const state = preparing && preparing.key === prepared.key ? preparing : { key: prepared.key };
  const at = dateTime(prepared.prepared_at);
  return h('section', { class: 'prepared', id: 'prepared', 'aria-labelledby': 'prepared-h', 'aria-busy': state.creating ? 'true' : null },
    h('h2', { id: 'prepared-h' }, 'Invoice ready for review'),
    h('p', { class: 'prepared-total' }, h('strong', { class: 'total' }, money(prepared.total, prepared.currency))),
    h('dl', { class: 'prepared-facts' },
      prepared.customer_name ? h('div', {}, h('dt', {}, 'Customer'), h('dd', { class: 'customer' }, prepared.customer_name)) : null,
      h('div', {}, h('dt', {}, 'Prepared'), h('dd', {}, h('time', { datetime: prepared.prepared_at }, at))),
      h('div', {}, h('dt', {}, 'By the rule'), h('dd', { class: 'rule' }, prepared.rule))),
    state.error ? h('p', { class: 'field-error', id: 'prepared-error', role: 'alert' }, state.error) : null,
    h('p', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: 'create-prepared', disabled: Boolean(state.creating), onclick: (e) => createPrepared(prepared, e.currentTarget) }, 'Create invoice'),
      h('button', { type: 'button', id: 'review-prepared', onclick: openCreate }, 'Review first')));
}

/** Creates the prepared invoice (its own key: a retried click never makes a second one). */
async function createPrepared(prepared, button) {
  preparing = { key: prepared.key, creating: true, error: null };
  try {
    const created = await busy(button, () => api('POST', `/api/deals/${deal}/prepared-invoice`, { headers: { 'Idempotency-Key': prepared.key } }), { label: 'Creating…' });
    preparing = null;
    snackbar(`Invoice ${created.invoice.doc_number || created.invoice.id} created.`);
  } catch (e) {
    if (!(e instanceof Problem)) throw e;
    preparing = { key: prepared.key, creating: false, error: (e.errors[0] && e.errors[0].message) || e.message };
  }
  await load(false, true);
}

/** Why an action is not possible on an invoice now (`null`: it is). */
function whyNot(action, invoice) {
  const s = invoice.status;
  if (s === 'deleted') return 'The invoice was deleted in QuickBooks.';
  if (action === 'void') {
    if (s === 'voided') return 'The invoice is already voided.';
    if (s === 'paid') return 'A paid invoice cannot be voided: remove the payment in QuickBooks first.';
    if (s === 'partially_paid') return 'A partly paid invoice cannot be voided: remove the payment in QuickBooks first.';
  }
  if (action === 'send' && s === 'voided') return 'A voided invoice is not sent to the customer.';
  return null;
}

function sendForm(invoice) {
  const number = invoice.doc_number || invoice.invoice_id;
  const id = `send-to-${invoice.invoice_id}`;
  return h('form', {
    class: 'send-form', id: `send-form-${invoice.invoice_id}`, novalidate: true,
    onsubmit: (e) => { e.preventDefault(); submitSend(invoice, e.submitter); },
  },
  h('label', { for: id }, `Send invoice ${number} to`),
  h('input', {
    id, type: 'email', autocomplete: 'email', placeholder: 'The billing e-mail in QuickBooks', value: sending.to || '',
    'aria-invalid': sending.error ? 'true' : null, 'aria-describedby': sending.error ? `${id}-error` : `${id}-hint`,
    oninput: (e) => { sending.to = e.target.value; },
  }),
  sending.error
    ? h('p', { class: 'field-error', id: `${id}-error`, role: 'alert' }, sending.error)
    : h('p', { class: 'hint', id: `${id}-hint` }, 'Empty: QuickBooks e-mails the invoice\'s billing address.'),
  h('p', { class: 'actions' },
    h('button', { type: 'submit', class: 'primary', id: `send-submit-${invoice.invoice_id}` }, 'Send'),
    h('button', { type: 'button', onclick: () => { sending = null; render(shown, shownActivity); } }, 'Cancel')));
}

function invoiceRow(invoice) {
  const number = invoice.doc_number || invoice.invoice_id;
  const menuId = `menu-${invoice.invoice_id}`;
  const doing = working.get(invoice.invoice_id);
  const button = h('button', {
    type: 'button', class: 'more', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': menuId,
    'aria-label': `Actions for invoice ${number}`, disabled: Boolean(doing),
  }, '…');
  const item = (label, key, action, reason) => h('li', { role: 'none' },
    h('button', { type: 'button', role: 'menuitem', disabled: Boolean(reason), title: reason || null, dataset: { action: key }, onclick: () => { closeMenu(); action(invoice); } },
      label, reason ? h('span', { class: 'why' }, reason) : null));
  const menu = h('ul', { class: 'menu', role: 'menu', id: menuId, hidden: true },
    item('Send', 'send', openSend, whyNot('send', invoice)),
    item('Download PDF', 'download', pdf, invoice.status === 'deleted' ? whyNot('pdf', invoice) : null),
    item('Open in QuickBooks', 'open', openInQuickBooks, invoice.status === 'deleted' ? whyNot('open', invoice) : null),
    item('Void', 'void', voidInvoice, whyNot('void', invoice)),
    item('Delete', 'delete', deleteInvoice, invoice.status === 'deleted' ? 'The invoice was deleted in QuickBooks.' : null),
  );
  button.addEventListener('click', () => {
    const wasOpen = openMenu && openMenu.menu === menu;
    closeMenu();
    if (!wasOpen) {
      menu.hidden = false;
      button.setAttribute('aria-expanded', 'true');
      openMenu = { menu, button };
      const first = menu.querySelector('button:not([disabled])');
      if (first) first.focus();
    }
  });
  menu.addEventListener('keydown', (e) => {
    const items = [...menu.querySelectorAll('button:not([disabled])')];
    const i = items.indexOf(document.activeElement);
    if (e.key === 'ArrowDown') { e.preventDefault(); items[(i + 1) % items.length].focus(); }
    if (e.key === 'ArrowUp') { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
  });
  const meta = [invoice.date, invoice.due_date ? `due ${invoice.due_date}` : null, invoice.customer && invoice.customer.name].filter(Boolean).join(' · ');
  return h('li', { class: 'invoice', dataset: { invoiceId: invoice.invoice_id, status: invoice.status }, 'aria-busy': doing ? 'true' : null },
    h('div', { class: 'invoice-head' },
      h('strong', {}, `Invoice ${number}`), ' ', statusFlag(invoice.status),
      invoice.sent ? h('span', { class: 'badge', dataset: { sent: 'true' } }, 'Sent') : null,
      h('span', { class: 'spacer' }), button, menu),
    h('div', { class: 'invoice-meta muted' }, meta),
    h('div', { class: 'invoice-amounts' },
      h('span', {}, 'Total ', h('strong', { class: 'total' }, money(invoice.total, invoice.currency))),
      invoice.balance !== invoice.total && invoice.status !== 'voided' ? h('span', {}, ' · Balance ', h('span', { class: 'balance' }, money(invoice.balance, invoice.currency))) : null),
    doing ? h('p', { class: 'working', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), doing) : null,
    sending && sending.id === invoice.invoice_id ? sendForm(invoice) : null,
  );
}

function activityLog(activity) {
  const events = activity.events || [];
  return h('details', { class: 'activity', id: 'activity' },
    h('summary', {}, `Activity (${events.length})`),
    events.length
      ? h('ol', {}, events.map((e) => h('li', { class: `outcome-${e.outcome}` },
        h('time', { datetime: e.at }, dateTime(e.at)), ' ', e.message,
        e.intuit_tid ? h('span', { class: 'muted' }, ` (QuickBooks ref ${e.intuit_tid})`) : null)))
      : h('p', { class: 'muted' }, 'Nothing yet.'));
}

/** Runs an action on an invoice with its row showing `doing` ("Voiding…") meanwhile. */
async function act(invoice, doing, verb, path, body) {
  working.set(invoice.invoice_id, doing);
  render(shown, shownActivity);
  try {
    const answer = await api('POST', `/api/deals/${deal}/invoices/${invoice.invoice_id}/${path}`, { body });
    snackbar(answer.message || `Invoice ${verb}.`);
    return null;
  } catch (e) {
    if (!(e instanceof Problem)) throw e;
    return e;
  } finally {
    working.delete(invoice.invoice_id);
    await load(false, true);
  }
}

function openSend(invoice) {
  sending = { id: invoice.invoice_id, to: '', error: null };
  render(shown, shownActivity);
}

async function submitSend(invoice, button) {
  const to = (sending.to || '').trim();
  if (to && !plausibleEmail(to)) {
    sending.error = `${to} is not an e-mail address. Type one address such as billing@example.com.`;
    sending.focused = false;
    render(shown, shownActivity);
    return;
  }
  const current = sending;
  const failed = await busy(button, () => act(invoice, 'Sending…', 'sent', 'send', to ? { to } : {}), { label: 'Sending…' });
  if (failed && sending === current) {
    // No billing e-mail, or not an address QuickBooks takes: say so at the field.
    sending = { ...current, error: (failed.errors[0] && failed.errors[0].message) || failed.message, focused: false };
    render(shown, shownActivity);
  } else if (failed) {
    snackbar(failed.message);
  } else {
    sending = null;
    render(shown, shownActivity);
  }
}

async function voidInvoice(invoice) {
  const ok = await confirmAction({
    title: `Void invoice ${invoice.doc_number || invoice.invoice_id}?`,
    description: 'Voiding sets its amounts to zero in QuickBooks and cannot be undone.',
    okText: 'Void',
    okColor: 'negative',
  });
  if (!ok) return;
  const failed = await act(invoice, 'Voiding…', 'voided', 'void', { confirm: true });
  if (failed) snackbar(failed.message);
}

async function deleteInvoice(invoice) {
  const ok = await confirmAction({
    title: `Delete invoice ${invoice.doc_number || invoice.invoice_id}?`,
    description: 'The invoice is deleted in QuickBooks. It stays listed here as Deleted.',
    okText: 'Delete',
    okColor: 'negative',
  });
  if (!ok) return;
  const failed = await act(invoice, 'Deleting…', 'deleted', 'delete', { confirm: true });
  if (failed) snackbar(failed.message);
}

async function pdf(invoice) {
  await downloadPdf(`/api/deals/${deal}/invoices/${invoice.invoice_id}/pdf`, `Invoice-${invoice.doc_number || invoice.invoice_id}.pdf`);
}

async function openInQuickBooks(invoice) {
  try {
    const { url } = await api('GET', `/api/deals/${deal}/invoices/${invoice.invoice_id}/open`);
    window.open(url, '_blank', 'noopener,noreferrer');
  } catch (e) {
    snackbar(e.message);
  }
}

/** The create modal; `kind` 'estimate' makes it create an estimate from the same draft. */
async function openCreate(kind = 'invoice') {
  try {
    await command(AppExtensionsSDK.Command.OPEN_MODAL, {
      type: AppExtensionsSDK.Modal.CUSTOM_MODAL,
      action_id: 'create-invoice',
      data: { deal_id: deal, kind },
    });
  } catch (e) {
    snackbar(e.message);
  }
  await load();
}

async function openAllInvoices() {
  try {
    await command(AppExtensionsSDK.Command.OPEN_MODAL, {
      type: AppExtensionsSDK.Modal.CUSTOM_MODAL,
      action_id: 'all-invoices',
      data: { deal_id: deal },
    });
  } catch (e) {
    snackbar(e.message);
  }
  await load();
}

async function disconnectCustomer() {
  const ok = await confirmAction({
    title: 'Disconnect the QuickBooks customer?',
    description: 'This deal\'s organization (and person) will no longer be linked to their QuickBooks customer. Invoices stay in QuickBooks.',
    okText: 'Disconnect',
    okColor: 'negative',
  });
  if (!ok) return;
  try {
    const answer = await api('DELETE', `/api/deals/${deal}/customer-link`);
    snackbar(answer.message || 'The customer is disconnected.');
  } catch (e) {
    snackbar(e.message);
  }
  await load();
}

(async () => {
  if (!deal) {
    mount(stateView('No deal', 'Open this panel from a deal.'));
    return;
  }
  try {
    const sdk = await sdkReady;
    sdk.listen(AppExtensionsSDK.Event.VISIBILITY, ({ data }) => visible(Boolean(data && data.is_visible)));
  } catch (e) {
    mount(stateView('Open this page from Pipedrive', e.message));
    return;
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && panelVisible) load();
  });
  await formatReady;
  await open();
  poll();
})();
