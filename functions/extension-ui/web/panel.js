// The deal panel: the deal's invoices with their status flags, the per-currency summary,
// refresh, the "…" actions, the activity log and the links.

import {
  api, busy, command, confirmAction, dealId, h, money, mount, openSettingsButton, Problem,
  problemView, sdkReady, snackbar, stateView, statusFlag,
} from './common.js';

/* global AppExtensionsSDK */

const deal = dealId();
let openMenu = null;
// What the panel shows: the list's first page and the pages "Show more" added to it.
let shown = null;
let shownActivity = null;
const PAGE = 25;
const LARGEST_PAGE = 100;

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

async function load(refresh = false) {
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
    shown = listing;
    shownActivity = activity;
    render(listing, activity);
    if (refresh) {
      const r = listing.refresh;
      snackbar(r && r.changed ? `Updated ${r.changed} invoice${r.changed === 1 ? '' : 's'} from QuickBooks.` : 'The invoices are up to date.');
    }
  } catch (e) {
    if (e instanceof Problem) mount(problemView(e, () => load()));
    else mount(stateView('Something went wrong', e.message));
  }
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
    h('button', { type: 'button', class: 'primary', id: 'create-invoice', disabled: Boolean(notConnected), onclick: openCreate }, '+ Invoice'),
    h('button', { type: 'button', id: 'refresh', disabled: Boolean(notConnected), onclick: (e) => busy(e.currentTarget, () => load(true)) }, 'Refresh'),
  );
  const summary = listing.summary.length
    ? h('table', { class: 'summary', id: 'summary' },
      h('caption', {}, 'Summary'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Currency'), h('th', { scope: 'col' }, 'Outstanding'), h('th', { scope: 'col' }, 'Overdue'), h('th', { scope: 'col' }, 'Paid'))),
      h('tbody', {}, listing.summary.map((s) => h('tr', { dataset: { currency: s.currency } },
        h('th', { scope: 'row' }, s.currency), h('td', {}, money(s.outstanding)), h('td', {}, money(s.overdue)), h('td', {}, money(s.paid))))))
    : null;
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
    h('button', { type: 'button', class: 'link', id: 'disconnect-customer', onclick: disconnectCustomer }, 'Disconnect customer'),
  );
  mount(
    notConnected,
    notConnected ? null : toolbar,
    summary,
    notConnected && !listing.invoices.length ? null : list,
    more,
    activity ? activityLog(activity) : null,
    links,
  );
}

function invoiceRow(invoice) {
  const number = invoice.doc_number || invoice.invoice_id;
  const menuId = `menu-${invoice.invoice_id}`;
  const button = h('button', {
    type: 'button', class: 'more', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': menuId,
    'aria-label': `Actions for invoice ${number}`,
  }, '…');
  const gone = invoice.status === 'voided' || invoice.status === 'deleted';
  const item = (label, action, disabled) => h('li', { role: 'none' },
    h('button', { type: 'button', role: 'menuitem', disabled, dataset: { action: label.toLowerCase().split(' ')[0] }, onclick: () => { closeMenu(); action(invoice); } }, label));
  const menu = h('ul', { class: 'menu', role: 'menu', id: menuId, hidden: true },
    item('Send', send, gone),
    item('Download PDF', pdf, invoice.status === 'deleted'),
    item('Open in QuickBooks', openInQuickBooks, invoice.status === 'deleted'),
    item('Void', voidInvoice, gone || invoice.status === 'paid' || invoice.status === 'partially_paid'),
    item('Delete', deleteInvoice, invoice.status === 'deleted'),
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
  return h('li', { class: 'invoice', dataset: { invoiceId: invoice.invoice_id, status: invoice.status } },
    h('div', { class: 'invoice-head' },
      h('strong', {}, `Invoice ${number}`), ' ', statusFlag(invoice.status),
      invoice.sent ? h('span', { class: 'badge', dataset: { sent: 'true' } }, 'Sent') : null,
      h('span', { class: 'spacer' }), button, menu),
    h('div', { class: 'invoice-meta muted' },
      `${invoice.date}${invoice.due_date ? ` · due ${invoice.due_date}` : ''}${invoice.customer && invoice.customer.name ? ` · ${invoice.customer.name}` : ''}`),
    h('div', { class: 'invoice-amounts' },
      h('span', {}, 'Total ', h('strong', { class: 'total' }, money(invoice.total, invoice.currency))),
      invoice.balance !== invoice.total && invoice.status !== 'voided' ? h('span', {}, ' · Balance ', money(invoice.balance, invoice.currency)) : null),
  );
}

function activityLog(activity) {
  const events = activity.events || [];
  return h('details', { class: 'activity', id: 'activity' },
    h('summary', {}, `Activity (${events.length})`),
    events.length
      ? h('ol', {}, events.map((e) => h('li', { class: `outcome-${e.outcome}` },
        h('time', { datetime: e.at }, new Date(e.at).toLocaleString()), ' ', e.message,
        e.intuit_tid ? h('span', { class: 'muted' }, ` (QuickBooks ref ${e.intuit_tid})`) : null)))
      : h('p', { class: 'muted' }, 'Nothing yet.'));
}

async function act(invoice, verb, path, body) {
  try {
    const answer = await api('POST', `/api/deals/${deal}/invoices/${invoice.invoice_id}/${path}`, { body });
    snackbar(answer.message || `Invoice ${verb}.`);
  } catch (e) {
    snackbar(e.message);
  }
  await load();
}

async function send(invoice) {
  const ok = await confirmAction({
    title: `Send invoice ${invoice.doc_number || invoice.invoice_id}?`,
    description: 'QuickBooks e-mails the invoice to the customer\'s billing address.',
    okText: 'Send',
  });
  if (ok) await act(invoice, 'sent', 'send', {});
}

async function voidInvoice(invoice) {
  const ok = await confirmAction({
    title: `Void invoice ${invoice.doc_number || invoice.invoice_id}?`,
    description: 'Voiding sets its amounts to zero in QuickBooks and cannot be undone.',
    okText: 'Void',
    okColor: 'negative',
  });
  if (ok) await act(invoice, 'voided', 'void', { confirm: true });
}

async function deleteInvoice(invoice) {
  const ok = await confirmAction({
    title: `Delete invoice ${invoice.doc_number || invoice.invoice_id}?`,
    description: 'The invoice is deleted in QuickBooks. It stays listed here as Deleted.',
    okText: 'Delete',
    okColor: 'negative',
  });
  if (ok) await act(invoice, 'deleted', 'delete', { confirm: true });
}

async function pdf(invoice) {
  try {
    const response = await api('GET', `/api/deals/${deal}/invoices/${invoice.invoice_id}/pdf`, { raw: true, headers: { Accept: 'application/pdf' } });
    const blob = await response.blob();
    const disposition = response.headers.get('Content-Disposition') || '';
    const match = /filename="?([^";]+)"?/.exec(disposition);
    const name = match ? match[1] : `Invoice-${invoice.doc_number || invoice.invoice_id}.pdf`;
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    snackbar(`Downloaded ${name}.`);
  } catch (e) {
    snackbar(e.message);
  }
}

async function openInQuickBooks(invoice) {
  try {
    const { url } = await api('GET', `/api/deals/${deal}/invoices/${invoice.invoice_id}/open`);
    window.open(url, '_blank', 'noopener,noreferrer');
  } catch (e) {
    snackbar(e.message);
  }
}

async function openCreate() {
  try {
    await command(AppExtensionsSDK.Command.OPEN_MODAL, {
      type: AppExtensionsSDK.Modal.CUSTOM_MODAL,
      action_id: 'create-invoice',
      data: { deal_id: deal },
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
    sdk.listen(AppExtensionsSDK.Event.VISIBILITY, ({ data }) => {
      if (data && data.is_visible) load();
    });
  } catch (e) {
    mount(stateView('Open this page from Pipedrive', e.message));
    return;
  }
  await load();
})();
