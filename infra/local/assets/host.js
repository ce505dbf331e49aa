// The local stand-in for Pipedrive's side of the app-extensions SDK protocol (API-NOTES §2.4a):
// every SDK call arrives as `postMessage({payload, id}, '*', [port])`; commands are answered on
// the port with `{data}` or `{error}`, listeners keep their port for events.

const MODAL_PAGES = { 'create-invoice': ['/ui/modal', 'Create invoice'], 'all-invoices': ['/ui/invoices', 'All invoices'] };
const listeners = []; // {event, port, source}
let theme = 'light';
let modal = null; // {port (of the OPEN_MODAL call), source}

const $ = (id) => document.getElementById(id);

function frames() {
  return [...document.querySelectorAll('iframe')];
}

function frameOf(source) {
  return frames().find((f) => f.contentWindow === source) || null;
}

async function signedToken(validSecs) {
  const response = await fetch('/_local/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(validSecs === undefined ? {} : { valid_secs: validSecs }),
    credentials: 'same-origin',
  });
  if (!response.ok) throw new Error(`signing failed (${response.status})`);
  return (await response.json()).token;
}

function snackbar(message, link) {
  const box = $('snackbars');
  if (!box) return;
  const el = document.createElement('div');
  el.className = 'snackbar';
  el.textContent = message;
  if (link && link.url) {
    const a = document.createElement('a');
    a.href = link.url;
    a.textContent = ` ${link.label || link.url}`;
    a.target = '_blank';
    a.rel = 'noopener';
    el.append(a);
  }
  box.append(el);
  setTimeout(() => el.remove(), 6000);
}

let confirming = Promise.resolve();
function confirmDialog(args) {
  const run = () => new Promise((resolve) => {
    const dialog = $('confirm');
    $('confirm-title').textContent = args.title || 'Are you sure?';
    $('confirm-text').textContent = args.description || '';
    const ok = $('confirm-ok');
    const cancel = $('confirm-cancel');
    ok.textContent = args.okText || 'OK';
    cancel.textContent = args.cancelText || 'Cancel';
    ok.className = args.okColor === 'negative' ? 'primary danger' : 'primary';
    const done = (confirmed) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve({ confirmed });
    };
    const onOk = () => done(true);
    const onCancel = (e) => { if (e) e.preventDefault(); done(false); };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    ok.focus();
  });
  const result = confirming.then(run);
  confirming = result.catch(() => {});
  return result;
}

function resize(frame, size) {
  if (!frame || !size) return;
  if (size.height) {
    const [min, max] = frame.id === 'panel-frame' ? [100, 750] : [120, Math.max(200, window.innerHeight - 80)];
    frame.style.height = `${Math.min(max, Math.max(min, Math.round(size.height)))}px`;
  }
}

async function openModal(args, port, source) {
  if (!args || args.type !== 'custom_modal') {
    port.postMessage({ error: 'Only custom modals exist in the local stand-in.' });
    return;
  }
  const page = MODAL_PAGES[args.action_id];
  if (!page) {
    port.postMessage({ error: `No custom modal called ${args.action_id}.` });
    return;
  }
  const main = document.querySelector('main');
  await showModal(page, { id: args.action_id, view: 'details', selectedIds: (main && main.dataset.deal) || '', data: JSON.stringify(args.data || {}) }, port, source);
}

/** Opens a custom modal page with Pipedrive's context (`port`: the OPEN_MODAL call's, if any). */
async function showModal(page, context, port, source) {
  if (modal) closeModal('closed');
  const main = document.querySelector('main');
  const token = await signedToken();
  const q = new URLSearchParams({
    theme,
    resource: 'deal',
    ...context,
    userId: main.dataset.user,
    companyId: main.dataset.company,
    token,
  });
  const frame = $('modal-frame');
  frame.style.height = '';
  frame.src = `${page[0]}?${q}`;
  $('modal-title').textContent = page[1];
  $('modal-backdrop').hidden = false;
  modal = { port, opener: source, returnFocus: document.activeElement };
  frame.focus();
}

function closeModal(status) {
  if (!modal) return;
  const { port, returnFocus } = modal;
  modal = null;
  const frame = $('modal-frame');
  $('modal-backdrop').hidden = true;
  // Listeners of the modal page go with it.
  for (let i = listeners.length - 1; i >= 0; i -= 1) {
    if (listeners[i].source === frame.contentWindow) listeners.splice(i, 1);
  }
  frame.removeAttribute('src');
  frame.src = 'about:blank';
  if (port) port.postMessage({ data: { status } });
  if (returnFocus && returnFocus.focus) returnFocus.focus();
}

function emit(event, data, onlySource) {
  for (const l of listeners) {
    if (l.event === event && (!onlySource || l.source === onlySource)) l.port.postMessage({ data });
  }
}

async function answer(command, args, port, source) {
  const frame = frameOf(source);
  switch (command) {
    case 'initialize':
      resize(frame, args && args.size);
      return {};
    case 'resize':
      resize(frame, args);
      return {};
    case 'get_signed_token':
      return { token: await signedToken() };
    case 'show_snackbar':
      snackbar(args && args.message, args && args.link);
      return {};
    case 'show_confirmation':
      return confirmDialog(args || {});
    case 'open_modal':
      await openModal(args, port, source);
      return undefined; // answered when the modal closes
    case 'close_modal':
      if (frame && frame.id === 'modal-frame') setTimeout(() => closeModal('closed'), 0);
      return {};
    case 'redirect_to':
      if (args && args.view === 'settings') window.location.href = '/_local/settings';
      else if (args && args.view === 'deals' && args.id) window.location.href = `/_local/deal/${encodeURIComponent(args.id)}`;
      else window.location.href = '/_local/';
      return {};
    case 'get_metadata':
      return { windowHeight: window.innerHeight, windowWidth: window.innerWidth };
    case 'set_notification':
    case 'set_focus_mode':
    case 'show_floating_window':
    case 'hide_floating_window':
      return {};
    default:
      throw new Error(`Unknown command ${command}`);
  }
}

window.addEventListener('message', async (event) => {
  if (event.origin !== window.location.origin) return; // only our own pages are hosted here
  const frame = frameOf(event.source);
  const message = event.data;
  if (!frame || !message || !message.payload) return;
  const { payload } = message;
  const port = event.ports && event.ports[0];
  if (payload.type === 'listener' && port) {
    listeners.push({ event: payload.event, port, source: event.source });
    return;
  }
  if (payload.type !== 'command' || !port) return; // 'track' needs no answer
  try {
    const data = await answer(payload.command, payload.args, port, event.source);
    if (data !== undefined) port.postMessage({ data });
  } catch (e) {
    port.postMessage({ error: e.message || String(e) });
  }
});

// ---------------------------------------------------------------- page wiring

function setTheme(next) {
  theme = next;
  document.documentElement.dataset.theme = theme;
  const toggle = $('theme-toggle');
  if (toggle) {
    toggle.setAttribute('aria-pressed', String(theme === 'dark'));
    toggle.textContent = theme === 'dark' ? 'Light theme' : 'Dark theme';
  }
  emit('user_settings_change', { theme });
}

const toggle = $('theme-toggle');
if (toggle) toggle.addEventListener('click', () => setTheme(theme === 'dark' ? 'light' : 'dark'));

// The deal's custom modal at the width the app configured (`?modal_width=` to try another).
const modalWidth = Number(new URLSearchParams(window.location.search).get('modal_width'));
if (modalWidth >= 320 && document.querySelector('.modal')) {
  document.querySelector('.modal').style.setProperty('--modal-width', `${modalWidth}px`);
}

// The deals list view: selection, and the app's "Bulk invoice" action opening its custom modal
// (720 px, the width the app configures for it) with the selected deal ids in `selectedIds`.
const bulkButton = $('bulk-invoice');
if (bulkButton) {
  document.querySelector('.modal').style.setProperty('--modal-width', '720px');
  const boxes = () => [...document.querySelectorAll('input.select-deal')];
  const chosen = () => boxes().filter((b) => b.checked).map((b) => b.value);
  const update = () => {
    const n = chosen().length;
    $('selected-count').textContent = `${n} selected`;
    bulkButton.disabled = n === 0;
  };
  for (const box of boxes()) box.addEventListener('change', update);
  $('select-all').addEventListener('change', (e) => { for (const box of boxes()) box.checked = e.target.checked; update(); });
  bulkButton.addEventListener('click', () => showModal(['/ui/bulk', 'Bulk invoice'], { id: 'bulk-invoice', view: 'list', selectedIds: chosen().join(',') }, null, null));
}

// Collapsing and expanding the panel, as Pipedrive's sidebar does: the SDK's `visibility` event.
const panelToggle = $('panel-toggle');
if (panelToggle) {
  panelToggle.addEventListener('click', () => {
    const frame = $('panel-frame');
    const show = frame.hidden;
    frame.hidden = !show;
    panelToggle.setAttribute('aria-expanded', String(show));
    panelToggle.textContent = show ? 'Collapse' : 'Expand';
    emit('visibility', { is_visible: show, context: { invoker: 'user' } }, frame.contentWindow);
  });
}

const closeButton = $('modal-close');
if (closeButton) {
  closeButton.addEventListener('click', () => {
    if (modal) emit('close_custom_modal', {}, $('modal-frame').contentWindow);
    closeModal('closed');
  });
}
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && modal && !$('confirm').open) {
    emit('close_custom_modal', {}, $('modal-frame').contentWindow);
    closeModal('closed');
  }
});

// "Install the app": Pipedrive's consent page in a window; the start page follows the install.
for (const link of document.querySelectorAll('a[data-popup]')) {
  link.addEventListener('click', (e) => {
    e.preventDefault();
    const win = window.open(link.href, 'pipedrive-install', 'popup,width=640,height=720');
    const timer = setInterval(async () => {
      const response = await fetch('/_local/session', { credentials: 'same-origin' });
      if (!response.ok) return;
      const session = await response.json();
      if (session.installed) {
        clearInterval(timer);
        if (win && !win.closed) win.close();
        window.location.reload();
      }
    }, 1000);
  });
}

// The extension frames load only now that the SDK's messages are listened to: a frame that
// started before this (deferred) script ran could send `initialize` to no one.
for (const frame of document.querySelectorAll('iframe[data-src]')) frame.src = frame.dataset.src;
