// What every page shares: the SDK (initialised at once), API calls with a fresh signed token
// each, problem+json errors, snackbars, confirmations, theme, resize, small DOM helpers.

/* global AppExtensionsSDK */

import { Dec } from './decimal.js';

const params = new URLSearchParams(window.location.search);

export const query = (name) => params.get(name);

/** The deal the page is about: `data` ({"deal_id"}) for modals, `selectedIds` for panels. */
export function dealId() {
  const data = params.get('data');
  if (data) {
    try {
      const parsed = JSON.parse(data);
      const id = Number(parsed && (parsed.deal_id ?? parsed.dealId));
      if (Number.isSafeInteger(id) && id > 0) return id;
    } catch {
      // fall through to selectedIds
    }
  }
  const selected = Number((params.get('selectedIds') || '').split(',')[0]);
  return Number.isSafeInteger(selected) && selected > 0 ? selected : null;
}

// ---------------------------------------------------------------- SDK

const INIT_TIMEOUT_MS = 8000;
let sdkInstance = null;

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme === 'dark' ? 'dark' : 'light';
}

applyTheme(params.get('theme'));

/** Initialises the SDK (once) and resolves it; rejects when no Pipedrive host answers. */
export const sdkReady = (async () => {
  if (typeof AppExtensionsSDK !== 'function') throw new Error('The Pipedrive SDK did not load.');
  const sdk = new AppExtensionsSDK();
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('Pipedrive did not answer. Open this page from Pipedrive.')), INIT_TIMEOUT_MS),
  );
  await Promise.race([sdk.initialize({ size: { height: contentHeight() } }), timeout]);
  sdkInstance = sdk;
  applyTheme(sdk.userSettings && sdk.userSettings.theme);
  sdk.listen(AppExtensionsSDK.Event.USER_SETTINGS_CHANGE, ({ data }) => applyTheme(data && data.theme));
  watchSize();
  return sdk;
})();

/**
 * Waits for the SDK and the caller's number format; false (the page says why) when no Pipedrive
 * host answers.
 */
export async function pageReady() {
  try {
    await sdkReady;
  } catch (e) {
    mount(stateView('Open this page from Pipedrive', e.message));
    return false;
  }
  await formatReady;
  return true;
}

export async function command(name, args) {
  const sdk = await sdkReady;
  return sdk.execute(name, args);
}

export const Command = () => AppExtensionsSDK.Command;

function contentHeight() {
  const main = document.getElementById('app');
  const h = Math.ceil((main ? main.getBoundingClientRect().height : document.body.scrollHeight) + 24);
  return Math.max(100, h);
}

let lastHeight = 0;
let resizeQueued = false;
function watchSize() {
  const send = () => {
    resizeQueued = false;
    const height = contentHeight();
    if (Math.abs(height - lastHeight) < 2 || !sdkInstance) return;
    lastHeight = height;
    sdkInstance.execute(AppExtensionsSDK.Command.RESIZE, { height }).catch(() => {});
  };
  const queue = () => {
    if (!resizeQueued) {
      resizeQueued = true;
      requestAnimationFrame(send);
    }
  };
  new ResizeObserver(queue).observe(document.getElementById('app') || document.body);
  queue();
}

export async function snackbar(message, link) {
  try {
    await command(AppExtensionsSDK.Command.SHOW_SNACKBAR, link ? { message, link } : { message });
  } catch {
    // A snackbar that cannot be shown is not worth an error.
  }
}

/** Pipedrive's confirmation dialog; resolves true when confirmed. */
export async function confirmAction({ title, description, okText, okColor }) {
  const answer = await command(AppExtensionsSDK.Command.SHOW_CONFIRMATION, {
    title,
    description,
    okText: okText || 'OK',
    cancelText: 'Cancel',
    okColor: okColor || 'primary',
  });
  return Boolean(answer && answer.confirmed);
}

// ---------------------------------------------------------------- API

/** A problem+json answer (or a network failure). */
export class Problem extends Error {
  constructor(status, body) {
    const detail = (body && (body.detail || body.title)) || `The request failed (${status}).`;
    super(detail);
    this.status = status;
    this.body = body || {};
    this.type = (body && body.type) || '';
    this.errors = (body && Array.isArray(body.errors) && body.errors) || [];
  }

  is(kind) {
    return this.type.endsWith(`:${kind}`);
  }
}

async function freshToken() {
  const answer = await command(AppExtensionsSDK.Command.GET_SIGNED_TOKEN);
  if (!answer || !answer.token) throw new Problem(0, { detail: 'Pipedrive did not give a signed token.' });
  return answer.token;
}

/**
 * Calls our API with a token fresh from the SDK (never stored). Resolves the JSON body (or the
 * Response when `raw`), rejects with a Problem.
 */
export async function api(method, path, { body, headers = {}, raw = false } = {}) {
  const token = await freshToken();
  const init = {
    method,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...headers },
    credentials: 'omit',
    cache: 'no-store',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new Problem(0, { detail: 'The app cannot be reached. Check your connection and try again.' });
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
    throw new Problem(response.status, problem);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

// ---------------------------------------------------------------- DOM

/** `h('div', {class: 'x', onclick: fn}, child, …)`: an element (listeners, never inline handlers). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function mount(...children) {
  const main = document.getElementById('app');
  // A re-render (the panel's poll, a refresh from QuickBooks) must not take the focus or the
  // caret from under the person: the control with the same id gets them back.
  const focused = document.activeElement;
  const keep = focused && focused.id && main.contains(focused)
    ? { id: focused.id, start: focused.selectionStart, end: focused.selectionEnd }
    : null;
  main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  main.setAttribute('aria-busy', 'false');
  const again = keep && document.getElementById(keep.id);
  if (again && again !== document.activeElement && !again.disabled && !again.closest('[hidden]')) {
    again.focus({ preventScroll: true });
    if (typeof keep.start === 'number' && typeof again.setSelectionRange === 'function') {
      try {
        again.setSelectionRange(keep.start, keep.end);
      } catch {
        // Not a text field: the focus is enough.
      }
    }
  }
  return main;
}

/** A clear full-page state (not connected, no access, error). */
export function stateView(title, text, ...actions) {
  return h('section', { class: 'state', role: 'status' }, h('h1', {}, title), text ? h('p', {}, text) : null, actions.length ? h('p', { class: 'actions' }, actions) : null);
}

export function problemView(problem, retry) {
  if (problem.status === 401) {
    return stateView('Your session has expired', problem.message, retry ? h('button', { type: 'button', onclick: retry }, 'Try again') : null);
  }
  if (problem.status === 403) {
    return stateView('No access', problem.message);
  }
  if (problem.is && problem.is('quickbooks-reconnect-required')) {
    return stateView('QuickBooks needs reconnecting', problem.message, openSettingsButton('Reconnect in settings'));
  }
  if (problem.is && problem.is('quickbooks-not-connected')) {
    return stateView('QuickBooks is not connected', problem.message, openSettingsButton('Connect QuickBooks'));
  }
  return stateView('Something went wrong', problem.message, retry ? h('button', { type: 'button', onclick: retry }, 'Try again') : null);
}

export function openSettingsButton(label = 'Settings') {
  return h('button', { type: 'button', class: 'link', onclick: () => command(AppExtensionsSDK.Command.REDIRECT_TO, { view: 'settings' }).catch(() => {}) }, label);
}

/** Shows field errors of a 422 next to their fields (`[data-field]`); returns the unplaced ones. */
export function showFieldErrors(root, errors) {
  clearFieldErrors(root);
  const unplaced = [];
  for (const error of errors) {
    const field = root.querySelector(`[data-field="${CSS.escape(error.field)}"]`);
    if (!field) {
      unplaced.push(error);
      continue;
    }
    const id = `err-${error.field.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
    const message = h('p', { class: 'field-error', id, role: 'alert' }, error.message);
    const input = field.matches('input,select,textarea,button') ? field : field.querySelector('input,select,textarea,button');
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', id);
    }
    (field.closest('.field') || field).append(message);
  }
  return unplaced;
}

export function clearFieldErrors(root) {
  root.querySelectorAll('.field-error').forEach((e) => e.remove());
  root.querySelectorAll('[aria-invalid]').forEach((e) => {
    e.removeAttribute('aria-invalid');
    e.removeAttribute('aria-describedby');
  });
}

// ---------------------------------------------------------------- formatting

/**
 * The one money formatter of the pages: the same rules as the API's sentences
 * (`shared::domain::money::NumberFormat`), for the Pipedrive user's locale. `GET /api/me` gives
 * the resolved rules (decimal mark, group separator, minimum grouping digits); until it answers,
 * English.
 */
let numberFormat = { locale: 'en_US', decimal: '.', group: ',', min_grouping_digits: 1 };

/** Loads the caller's number format (once per page; English if it cannot be read). */
export const formatReady = (async () => {
  try {
    await sdkReady;
    const me = await api('GET', '/api/me');
    if (me && me.number_format) numberFormat = me.number_format;
    document.documentElement.dataset.locale = numberFormat.locale;
  } catch {
    // English it is: a page that cannot read the format still works.
  }
  return numberFormat;
})();

/** `1234.5` → `1,234.50` (or `1.234,50`…): 2 places, half away from zero, grouped. */
export function amount(value, format = numberFormat) {
  if (value === null || value === undefined || value === '') return '';
  const fixed = Dec.of(value).toFixed(2);
  const negative = fixed.startsWith('-') && Dec.of(fixed).cmp(0) !== 0;
  const [int, frac] = fixed.replace('-', '').split('.');
  const grouped = int.length >= 3 + Math.max(1, format.min_grouping_digits || 1)
    ? int.replace(/\B(?=(\d{3})+(?!\d))/g, () => format.group)
    : int;
  return `${negative ? '-' : ''}${grouped}${format.decimal}${frac}`;
}

/** The amount and its currency: `1.234,50 EUR`. */
export function money(value, currency) {
  if (value === null || value === undefined || value === '') return '';
  return currency ? `${amount(value)} ${currency}` : amount(value);
}

/** The English form of the formatter (what is sent to QuickBooks in descriptions). */
export const ENGLISH = { locale: 'en_US', decimal: '.', group: ',', min_grouping_digits: 1 };

export const STATUS_LABELS = {
  open: 'Open',
  paid: 'Paid',
  partially_paid: 'Partially paid',
  overdue: 'Overdue',
  voided: 'Voided',
  void: 'Voided',
  deleted: 'Deleted',
  pending: 'Pending',
  accepted: 'Accepted',
  rejected: 'Rejected',
  closed: 'Closed',
  expired: 'Expired',
};

/** Downloads the PDF at `path` (our API) as a file (its `Content-Disposition` name, else `fallback`). */
export async function downloadPdf(path, fallback) {
  try {
    const response = await api('GET', path, { raw: true, headers: { Accept: 'application/pdf' } });
    const blob = await response.blob();
    const disposition = response.headers.get('Content-Disposition') || '';
    const match = /filename="?([^";]+)"?/.exec(disposition);
    const name = match ? match[1] : fallback;
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

export function statusFlag(status) {
  return h('span', { class: `flag flag-${status}`, dataset: { status } }, STATUS_LABELS[status] || status);
}

export function isoDate(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/**
 * A moment (an RFC 3339 time from the API) in the reader's time zone, written as every date of the
 * pages is (`2026-12-06 15:12`): not the browser's locale, which need not be the Pipedrive user's.
 */
export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${isoDate(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * Runs `fn` with `button` disabled and visibly busy (its label becomes `label`, e.g. "Creating…",
 * with a spinner), and `scope` (a form or section) disabled meanwhile.
 */
export async function busy(button, fn, { label, scope } = {}) {
  const text = button ? button.textContent : '';
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    if (label) button.textContent = label;
  }
  if (scope) scope.disabled = true;
  try {
    return await fn();
  } finally {
    if (scope && scope.isConnected) scope.disabled = false;
    if (button && button.isConnected) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      if (label) button.textContent = text;
    }
  }
}

/** Brings an error into view and focuses it (it gets `tabindex=-1` to take the focus). */
export function reveal(el) {
  if (!el) return;
  if (!el.hasAttribute('tabindex') && !el.matches('input,select,textarea,button,a[href]')) el.setAttribute('tabindex', '-1');
  el.scrollIntoView({ block: 'center' });
  el.focus({ preventScroll: true });
}

/** A typed number (`30`, `30,5`, `1 000.50`) as the API takes it, or `null`. */
export function typedNumber(text) {
  const t = String(text || '').replace(/[\s\u00a0\u202f']/g, '').replace(',', '.');
  return /^\d+(\.\d+)?$/.test(t) ? t : null;
}

/** `text` ending with one period (a name ending in "Inc." does not get a second one). */
export function sentence(text) {
  const t = String(text || '').trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** A plausible e-mail address (the API's rule: one @, a dot in the domain, no spaces). */
export function plausibleEmail(value) {
  return /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/.test(String(value || '').trim());
}

/**
 * Gives every element whose text does not fit its box a tooltip with its full text (and every
 * select the text of its chosen option): nothing is clipped without a way to read it.
 */
export function tooltips(root = document) {
  for (const select of root.querySelectorAll('select')) {
    const chosen = select.selectedOptions[0];
    select.title = chosen ? chosen.textContent : '';
  }
  for (const el of root.querySelectorAll('button, label, td, th, dd, dt, .result, .flag, .badge, strong, span')) {
    if (el.scrollWidth > el.clientWidth + 1 && !el.title) el.title = el.textContent.trim();
  }
}
