// The app settings page: the QuickBooks connection (connect, reconnect, disconnect), the field
// mapping (only the company's fields that fit each slot), the due-date rule, who may invoice, the
// deal fields that carry the deal's invoice figures (only custom deal fields of a fitting type),
// the invoicing rules (trigger from the company's pipelines and stages, action); saved with
// conflict handling.

import {
  api, busy, clearFieldErrors, confirmAction, h, mount, Problem, problemView, reveal, sdkReady,
  sentence, showFieldErrors, snackbar, stateView,
} from './common.js';

/** The sentences of the due-days field (the API answers the same ones). */
const DAYS_EMPTY = 'Enter the number of days after the invoice date (0 to 365).';
const DAYS_RANGE = 'The number of days after the invoice date must be a whole number from 0 to 365.';

const SLOTS = [
  ['to', 'To (recipient name)', false],
  ['address', 'Address', true],
  ['email', 'Email', true],
  ['tax_id', 'Customer tax ID', true],
];
/** The invoice figures a custom deal field can carry (`settings.write_back.<figure>`). */
const FIGURES = [
  ['status', 'Invoice status (worst of the deal\'s invoices)'],
  ['invoiced', 'Amount invoiced'],
  ['paid', 'Amount paid'],
  ['outstanding', 'Amount outstanding'],
  ['last_number', 'Last invoice number'],
  ['last_payment_date', 'Last payment date'],
];
const ENTITY = { deal: 'Deal', organization: 'Organization', person: 'Person' };
/** What a rule does (`settings.rules[i].action`). */
const ACTIONS = [
  ['prepare', 'Prepare an invoice for review'],
  ['create', 'Create the invoice'],
  ['create_and_send', 'Create and send the invoice'],
  ['create_estimate', 'Create an estimate'],
];
/** The rules' limits and the sentences the API answers for them (domain `rules::check_rules`). */
const RULES_MAX = 20;
const RULES_MANY = `at most ${RULES_MAX} rules`;
const RULE_TWICE = 'the same rule is listed twice';
const STAGE_GONE = 'That stage is not in the chosen pipeline (any more). Choose another.';

let connection = null; // ConnectionView or {state:'needs_reconnect', reason}
let doc = null; // {settings, version}
let catalog = null;
let conflict = null; // the current document after a 409
let baseline = ''; // the settings as last loaded from the server (JSON)
let pollTimer = null;
/** The due-days field as typed (an empty field is not 0). */
let daysText = null;

/** The problem with the typed days (`null` when they are a whole number from 0 to 365). */
function daysProblem(text) {
  const t = String(text ?? '').trim();
  if (!t) return DAYS_EMPTY;
  if (!/^\d+$/.test(t) || Number(t) > 365) return DAYS_RANGE;
  return null;
}

/** JSON with object keys sorted (the server's 409 body sorts them; its GET answer does not). */
function canonical(value) {
  const sort = (v) => (Array.isArray(v) ? v.map(sort)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v);
  return JSON.stringify(sort(value));
}

const ref = (r) => (r ? `${r.entity}:${r.key}` : '');
const unref = (v) => {
  if (!v) return null;
  const at = v.indexOf(':');
  return { entity: v.slice(0, at), key: v.slice(at + 1) };
};

async function loadConnection() {
  try {
    connection = await api('GET', '/api/connection');
  } catch (e) {
    if (e instanceof Problem && e.is('quickbooks-reconnect-required')) {
      connection = { state: 'needs_reconnect', reason: e.message };
    } else {
      throw e;
    }
  }
}

async function load() {
  try {
    await loadConnection();
    doc = await api('GET', '/api/settings');
    daysText = null;
    baseline = canonical(doc.settings);
    try {
      catalog = await api('GET', '/api/settings/fields');
    } catch (e) {
      catalog = { fields: [], error: e.message };
    }
    render();
  } catch (e) {
    mount(e instanceof Problem ? problemView(e, load) : stateView('Something went wrong', e.message));
  }
}

function render() {
  const active = document.activeElement && document.activeElement.id;
  mount(
    h('h1', {}, 'QuickBooks invoicing'),
    connectionSection(),
    settingsForm(),
  );
  if (active && document.getElementById(active)) document.getElementById(active).focus();
}

function connectionSection() {
  const c = connection;
  let text;
  let actions;
  switch (c.state) {
    case 'connected':
      text = h('p', { id: 'connection-state', dataset: { state: 'connected' } },
        sentence(`Connected to ${c.company_name || c.realm_id}${c.connected_by && c.connected_by.name ? ` by ${c.connected_by.name}` : ''}${c.environment === 'sandbox' ? ' (sandbox)' : ''}`));
      actions = [h('button', { type: 'button', id: 'disconnect', class: 'danger', onclick: (e) => busy(e.currentTarget, disconnect) }, 'Disconnect QuickBooks')];
      break;
    case 'needs_reconnect':
      // This is the settings page: say what happened and offer the button (never "open the settings").
      text = h('p', { id: 'connection-state', class: 'warning', dataset: { state: 'needs_reconnect' } },
        'QuickBooks needs reconnecting', c.reason && !/settings/i.test(c.reason) ? `: ${sentence(c.reason)}` : '. Reconnect it with the button below.');
      actions = [h('button', { type: 'button', id: 'connect', class: 'primary', onclick: (e) => busy(e.currentTarget, () => connect(false)) }, 'Reconnect QuickBooks')];
      break;
    default:
      text = h('p', { id: 'connection-state', dataset: { state: c.state } }, c.state === 'disconnected' ? 'QuickBooks is disconnected.' : 'QuickBooks is not connected yet.');
      actions = [h('button', { type: 'button', id: 'connect', class: 'primary', onclick: (e) => busy(e.currentTarget, () => connect(false)) }, 'Connect QuickBooks')];
  }
  return h('section', { class: 'section', 'aria-labelledby': 'connection-h' },
    h('h2', { id: 'connection-h' }, 'Connection'), text, h('p', { class: 'actions' }, actions),
    h('div', { id: 'connection-error', role: 'alert' }));
}

async function connect(replace) {
  const errorBox = document.getElementById('connection-error');
  errorBox.replaceChildren();
  try {
    const { authorize_url: url } = await api('POST', '/api/quickbooks/connect', { body: replace ? { replace: true } : {} });
    // Intuit's consent page must be the top window (it refuses frames): a new window.
    const win = window.open(url, 'quickbooks-connect', 'popup,width=640,height=760');
    if (!win) {
      errorBox.replaceChildren(h('p', {}, 'Your browser blocked the QuickBooks window. ', h('a', { href: url, target: '_blank', rel: 'noopener' }, 'Open it here'), '.'));
    }
    waitForConnection();
  } catch (e) {
    if (e instanceof Problem && e.status === 409 && !replace) {
      errorBox.replaceChildren(h('p', { class: 'field-error' }, e.message), h('button', { type: 'button', id: 'replace-connection', onclick: (ev) => busy(ev.currentTarget, () => connect(true)) }, 'Replace the connection'));
    } else {
      errorBox.replaceChildren(h('p', { class: 'field-error' }, e.message));
    }
  }
}

/** Polls the connection while the QuickBooks window is open (up to 10 minutes). */
function waitForConnection() {
  clearInterval(pollTimer);
  const until = Date.now() + 10 * 60 * 1000;
  pollTimer = setInterval(async () => {
    if (Date.now() > until) {
      clearInterval(pollTimer);
      return;
    }
    try {
      await loadConnection();
    } catch {
      return;
    }
    if (connection.state === 'connected') {
      clearInterval(pollTimer);
      snackbar(`Connected to ${connection.company_name || 'QuickBooks'}.`);
      try {
        catalog = await api('GET', '/api/settings/fields?fresh=true');
      } catch {
        // keep the old catalog
      }
      render();
    }
  }, 1500);
}

async function disconnect() {
  const ok = await confirmAction({
    title: 'Disconnect QuickBooks?',
    description: 'No one in your company can create or follow invoices until QuickBooks is connected again. Invoice links are kept.',
    okText: 'Disconnect',
    okColor: 'negative',
  });
  if (!ok) return;
  try {
    connection = await api('POST', '/api/quickbooks/disconnect');
    snackbar('QuickBooks is disconnected.');
  } catch (e) {
    snackbar(e.message);
  }
  render();
}

function fieldsFor(slot) {
  return (catalog.fields || []).filter((f) => (f.fits || []).includes(slot));
}

/** One select per figure: none, or a custom deal field whose type can hold it. */
function writeBackSection(s) {
  s.write_back = s.write_back || {};
  const selects = FIGURES.map(([figure, label]) => {
    const options = (catalog.fields || []).filter((f) => (f.figures || []).includes(figure)).map((f) => [f.key, f.name]);
    const current = s.write_back[figure] ? s.write_back[figure].key : '';
    if (current && !options.some(([v]) => v === current)) options.unshift([current, `${current} (not found)`]);
    options.unshift(['', '— not written —']);
    const onchange = (e) => {
      if (e.target.value) s.write_back[figure] = { key: e.target.value };
      else delete s.write_back[figure];
    };
    return h('div', { class: 'field', dataset: { field: `settings.write_back.${figure}` } },
      h('label', { for: `figure-${figure}` }, label),
      h('select', { id: `figure-${figure}`, onchange },
        options.map(([v, l]) => h('option', { value: v, selected: v === current }, l))));
  });
  return h('fieldset', { class: 'field', id: 'write-back' },
    h('legend', {}, 'Keep these Pipedrive deal fields current with the deal\'s invoices'),
    h('p', { class: 'hint' }, 'Only your custom deal fields of a fitting type are offered. A field is written only when its value changes.'),
    selects);
}

/** A stage trigger on the first stage of `pipelineId` (or of the first pipeline). */
function stageTrigger(pipelines, pipelineId) {
  const p = pipelines.find((x) => x.id === pipelineId) || pipelines[0];
  return { kind: 'stage', pipeline_id: p ? p.id : null, stage_id: p && p.stages.length ? p.stages[0].id : null };
}

function ruleSelect(id, label, options, value, onchange) {
  return h('div', { class: 'rule-part' },
    h('label', { for: id }, label),
    h('select', { id, onchange }, options.map(([v, l]) => h('option', { value: v, selected: v === value }, l))));
}

/** One rule: when (won / reaches a stage), the pipeline (and stage), then what. */
function ruleRow(s, rule, i, pipelines) {
  const t = rule.trigger;
  const pid = t.pipeline_id == null ? '' : String(t.pipeline_id);
  const pipelineOptions = pipelines.map((p) => [String(p.id), p.name]);
  if (pid && !pipelineOptions.some(([v]) => v === pid)) pipelineOptions.unshift([pid, `Pipeline ${pid} (not found)`]);
  if (t.kind === 'won') pipelineOptions.unshift(['', 'Any pipeline']);
  const pipeline = pipelines.find((p) => String(p.id) === pid);
  const sid = t.stage_id == null ? '' : String(t.stage_id);
  const stageOptions = (pipeline ? pipeline.stages : []).map((st) => [String(st.id), st.name]);
  if (sid && !stageOptions.some(([v]) => v === sid)) stageOptions.unshift([sid, `Stage ${sid} (not found)`]);
  const set = (trigger) => { rule.trigger = trigger; render(); };
  const number = (v) => (v ? Number(v) : null);
  return h('li', { class: 'rule field', dataset: { field: `settings.rules[${i}]` } },
    h('div', { class: 'rule-trigger', dataset: { field: `settings.rules[${i}].trigger` } },
      ruleSelect(`rule-${i}-when`, 'When a deal', [['won', 'is won'], ['stage', 'reaches a stage']], t.kind,
        (e) => set(e.target.value === 'won' ? { kind: 'won', pipeline_id: number(pid) } : stageTrigger(pipelines, number(pid)))),
      ruleSelect(`rule-${i}-pipeline`, 'In pipeline', pipelineOptions, pid,
        (e) => set(t.kind === 'won' ? { kind: 'won', pipeline_id: number(e.target.value) } : stageTrigger(pipelines, number(e.target.value)))),
      t.kind === 'stage'
        ? ruleSelect(`rule-${i}-stage`, 'Stage', stageOptions, sid, (e) => set({ kind: 'stage', pipeline_id: t.pipeline_id, stage_id: number(e.target.value) }))
        : null),
    ruleSelect(`rule-${i}-action`, 'Then', ACTIONS, rule.action, (e) => { rule.action = e.target.value; }),
    h('button', { type: 'button', class: 'link rule-remove', id: `rule-${i}-remove`, onclick: () => { s.rules.splice(i, 1); render(); } }, 'Remove'));
}

/** The company's invoicing rules: listed, added, changed, removed (saved with the settings). */
function rulesSection(s) {
  s.rules = s.rules || [];
  const pipelines = catalog.pipelines || [];
  const full = s.rules.length >= RULES_MAX;
  return h('fieldset', { class: 'field', id: 'rules', dataset: { field: 'settings.rules' } },
    h('legend', {}, 'Invoicing rules'),
    h('p', { class: 'hint' }, 'Applied every 15 minutes to what happens to deals after a rule is saved (a changed rule starts again from when it is saved). A deal that is not ready is told what it needs.'),
    s.rules.length
      ? h('ol', { class: 'rules', id: 'rule-list' }, s.rules.map((rule, i) => ruleRow(s, rule, i, pipelines)))
      : h('p', { class: 'muted', id: 'no-rules' }, 'No rules: invoices are created from the deal\'s panel only.'),
    h('p', { class: 'actions' },
      h('button', {
        type: 'button', id: 'add-rule', disabled: full, title: full ? RULES_MANY : null,
        onclick: () => { s.rules.push({ trigger: { kind: 'won', pipeline_id: null }, action: 'prepare' }); render(); },
      }, 'Add a rule')));
}

/** What the API would refuse in the rules, with its sentences (checked before saving). */
function rulesProblems(rules) {
  const problems = [];
  if (rules.length > RULES_MAX) problems.push({ field: 'settings.rules', message: RULES_MANY });
  const seen = [];
  rules.forEach((rule, i) => {
    const t = rule.trigger;
    if (t.kind === 'stage' && (t.pipeline_id == null || t.stage_id == null)) {
      problems.push({ field: `settings.rules[${i}].trigger`, message: STAGE_GONE });
    }
    const same = JSON.stringify([t.kind, t.pipeline_id ?? null, t.stage_id ?? null, rule.action]);
    if (seen.includes(same)) problems.push({ field: `settings.rules[${i}]`, message: RULE_TWICE });
    seen.push(same);
  });
  return problems;
}

function settingsForm() {
  const s = doc.settings;
  const mapping = SLOTS.map(([slot, label, optional]) => {
    const options = fieldsFor(slot).map((f) => [ref(f), `${ENTITY[f.entity] || f.entity} › ${f.name}`]);
    const current = ref(s.mapping[slot]);
    if (current && !options.some(([v]) => v === current)) options.unshift([current, `${current} (not found)`]);
    if (optional) options.unshift(['', '— none —']);
    return h('div', { class: 'field', dataset: { field: `settings.mapping.${slot}` } },
      h('label', { for: `map-${slot}` }, label),
      h('select', { id: `map-${slot}`, onchange: (e) => { s.mapping[slot] = unref(e.target.value); } },
        options.map(([v, l]) => h('option', { value: v, selected: v === current }, l))));
  });
  if (daysText === null) daysText = String(s.due_date.kind === 'days_after_issue' ? s.due_date.days : 14);
  const due = h('fieldset', { class: 'field', dataset: { field: 'settings.due_date' } },
    h('legend', {}, 'Due date'),
    h('div', { class: 'radio' },
      h('input', { type: 'radio', name: 'due', id: 'due-days', value: 'days', checked: s.due_date.kind === 'days_after_issue', onchange: () => { s.due_date = { kind: 'days_after_issue', days: 0 }; } }),
      h('label', { for: 'due-days' }, 'A number of days after the invoice date')),
    h('div', { class: 'field indent', dataset: { field: 'settings.due_date.days' } },
      h('label', { for: 'due-days-n' }, 'Days after the invoice date'),
      h('input', { type: 'number', id: 'due-days-n', min: 0, max: 365, step: 1, inputmode: 'numeric', value: daysText, oninput: (e) => { daysText = e.target.value; } })),
    h('div', { class: 'radio' },
      h('input', { type: 'radio', name: 'due', id: 'due-terms', value: 'terms', checked: s.due_date.kind === 'customer_terms', onchange: () => { s.due_date = { kind: 'customer_terms' }; } }),
      h('label', { for: 'due-terms' }, 'The QuickBooks customer\'s payment terms')));
  const access = h('fieldset', { class: 'field', dataset: { field: 'settings.access' } },
    h('legend', {}, 'Who may see and create invoices'),
    [['all_installed_users', 'Every user of the company who installed the app'], ['connected_user_only', 'Only the user who connected QuickBooks']].map(([v, l]) => h('div', { class: 'radio' },
      h('input', { type: 'radio', name: 'access', id: `access-${v}`, value: v, checked: s.access === v, onchange: () => { s.access = v; } }),
      h('label', { for: `access-${v}` }, l))));
  const checkbox = (key, label) => h('div', { class: 'field checkbox', dataset: { field: `settings.${key}` } },
    h('input', { type: 'checkbox', id: key, checked: Boolean(s[key]), onchange: (e) => { s[key] = e.target.checked; } }),
    h('label', { for: key }, label));
  return h('form', { id: 'settings-form', class: 'section', novalidate: true, onsubmit: (e) => { e.preventDefault(); save(e.submitter); } },
    h('h2', {}, 'New invoices'),
    catalog.error ? h('p', { class: 'warning' }, `The Pipedrive fields could not be read: ${catalog.error}`) : null,
    h('fieldset', { class: 'field' }, h('legend', {}, 'Fill the customer block from these Pipedrive fields'), mapping),
    due, access,
    checkbox('update_customer', 'Update the QuickBooks customer\'s address, email and tax ID when they differ'),
    checkbox('note_on_paid', 'Add a note to the deal when an invoice is paid'),
    writeBackSection(s),
    rulesSection(s),
    conflictNotice(),
    h('div', { id: 'settings-errors', role: 'alert' }),
    h('p', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'save' }, 'Save settings')));
}

function describe(s) {
  const m = (r) => (r ? `${ENTITY[r.entity] || r.entity} › ${((catalog.fields || []).find((f) => f.entity === r.entity && f.key === r.key) || { name: r.key }).name}` : 'none');
  return [
    `To: ${m(s.mapping.to)}`, `Address: ${m(s.mapping.address)}`, `Email: ${m(s.mapping.email)}`, `Tax ID: ${m(s.mapping.tax_id)}`,
    `Due date: ${s.due_date.kind === 'days_after_issue' ? `${s.due_date.days} days after the invoice date` : 'customer terms'}`,
    `Access: ${s.access === 'all_installed_users' ? 'every user who installed the app' : 'only the user who connected QuickBooks'}`,
  ];
}

function conflictNotice() {
  if (!conflict) return null;
  return h('div', { class: 'notice', id: 'conflict', role: 'alert' },
    h('p', {}, h('strong', {}, 'Someone else saved the settings since you opened them.'), ' Their settings:'),
    h('ul', {}, describe(conflict.settings).map((l) => h('li', {}, l))),
    h('p', { class: 'actions' },
      h('button', { type: 'button', id: 'use-theirs', onclick: () => { doc = conflict; daysText = null; baseline = canonical(conflict.settings); conflict = null; render(); } }, 'Use their settings'),
      h('button', { type: 'button', id: 'reapply-mine', class: 'primary', onclick: (e) => { doc.version = conflict.version; baseline = canonical(conflict.settings); conflict = null; save(e.currentTarget); } }, 'Save mine over theirs')));
}

/**
 * PUT the settings. The version covers the whole company record (the connection too), so a 409
 * whose current settings are still the ones this page loaded is not someone else's edit: retry
 * once with the new version. A real conflict goes to the user.
 */
async function saveDocument(d) {
  try {
    return await api('PUT', '/api/settings', { body: d });
  } catch (e) {
    const current = e instanceof Problem && e.status === 409 && e.body.current;
    if (current && canonical(current.settings) === baseline) {
      return api('PUT', '/api/settings', { body: { settings: d.settings, version: current.version } });
    }
    throw e;
  }
}

async function save(button) {
  const formEl = document.getElementById('settings-form');
  clearFieldErrors(formEl);
  document.getElementById('settings-errors').replaceChildren();
  if (doc.settings.due_date.kind === 'days_after_issue') {
    const problem = daysProblem(daysText);
    if (problem) {
      showFieldErrors(formEl, [{ field: 'settings.due_date.days', message: problem }]);
      reveal(document.getElementById('due-days-n'));
      return;
    }
    doc.settings.due_date = { kind: 'days_after_issue', days: Number(daysText.trim()) };
  }
  const ruleProblems = rulesProblems(doc.settings.rules || []);
  if (ruleProblems.length) {
    showFieldErrors(formEl, ruleProblems);
    reveal(formEl.querySelector('#rules .field-error'));
    return;
  }
  await busy(button, async () => {
    try {
      doc = await saveDocument(doc);
      daysText = null;
      baseline = canonical(doc.settings);
      conflict = null;
      render();
      snackbar('Settings saved.');
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      if (e.status === 409 && e.body.current) {
        conflict = e.body.current;
        render();
        const el = document.getElementById('conflict');
        if (el) el.scrollIntoView({ block: 'center' });
        return;
      }
      const unplaced = e.errors.length ? showFieldErrors(formEl, e.errors) : [{ message: e.message }];
      document.getElementById('settings-errors').replaceChildren(...unplaced.map((u) => h('p', { class: 'field-error' }, u.message)));
      reveal(formEl.querySelector('[aria-invalid="true"]') || document.querySelector('#settings-errors .field-error'));
    }
  });
}

(async () => {
  try {
    await sdkReady;
  } catch (e) {
    mount(stateView('Open this page from Pipedrive', e.message));
    return;
  }
  await load();
})();
