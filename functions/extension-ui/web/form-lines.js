// The create modal's lines: each line's fields, its QuickBooks item (search — words anywhere, the
// first items on focus —, choose: every line of the same product at once —, or create one from
// the Pipedrive product), removal with undo, and where the focus goes after each step.

import { api, busy, h, money, reveal, snackbar, Problem } from './common.js';
import { field, input, select } from './form-controls.js';
import { clearErrorsFor, newKey, render, state } from './form-state.js';
import { amountText, descriptionText, updateTotals } from './form-totals.js';

const lineOf = (key) => state.form.lines[state.lineKeys.indexOf(key)];

function taxOptions() {
  const setup = state.draft.quickbooks;
  if (setup.us) return [['', '—'], ['TAX', 'Taxable'], ['NON', 'Not taxable']];
  return [['', '—'], ...setup.tax_codes.filter((c) => c.active && !c.group).map((c) => [c.id, c.name])];
}

function discountText(line) {
  const d = line.discount;
  if (!d) return null;
  return `Discount: ${d.kind === 'percentage' ? `${d.value} %` : money(d.value, state.form.currency)}`;
}

// ---------------------------------------------------------------- items

/** Searches the items for a line; an answer overtaken by a later search is dropped. */
async function searchItems(key, term) {
  const search = state.searches.get(key);
  search.seq = (search.seq || 0) + 1;
  const seq = search.seq;
  search.loading = true;
  let found;
  try {
    const { items } = await api('GET', `/api/quickbooks/items?search=${encodeURIComponent(term.trim())}`);
    found = { results: items, error: null, first: !term.trim() };
  } catch (e) {
    found = { results: null, error: e.message };
  }
  if (seq !== search.seq) return false;
  Object.assign(search, found, { loading: false });
  render();
  return true;
}

/** The item on every line of the product (or on `only` when the line has no product). */
function applyItem(productId, only, item) {
  let count = 0;
  state.form.lines.forEach((l, i) => {
    if ((productId && l.product_id === productId) || l === only) {
      l.item_id = item.id;
      l.item_name = item.name;
      state.searches.delete(state.lineKeys[i]);
      state.newItems.delete(state.lineKeys[i]);
      clearErrorsFor(`lines[${i}].item_id`);
      count += 1;
    }
  });
  return count;
}

/** Where the focus goes once a line has its item: the next line's first field (Enter there only
 * moves on), else the totals — never a button that Enter would press. */
function focusAfterItem(key) {
  const next = state.lineKeys[state.lineKeys.indexOf(key) + 1];
  const target = next !== undefined ? document.getElementById(`line-${next}-name`) : document.getElementById('totals');
  if (target) target.focus();
}

async function chooseItem(key, item) {
  const line = lineOf(key);
  const search = state.searches.get(key);
  try {
    if (line.product_id) {
      // The link is kept: every later invoice with this product uses the item.
      await api('PUT', `/api/products/${line.product_id}/item-link`, { body: { item_id: item.id } });
    }
    const count = applyItem(line.product_id, line, item);
    snackbar(count > 1 ? `${count} lines of ${line.name} are linked to ${item.name}.` : `Line ${state.lineKeys.indexOf(key) + 1} is linked to ${item.name}.`);
  } catch (e) {
    search.error = e.message;
  }
  render();
  focusAfterItem(key);
}

function itemResults(key, search, n) {
  if (search.error) return h('p', { class: 'field-error', role: 'alert' }, search.error);
  if (!search.results) return null;
  if (!search.results.length) return h('p', { class: 'muted' }, search.first ? 'QuickBooks has no active items.' : 'No item found.');
  const home = state.draft.quickbooks.home_currency;
  return h('ul', { class: 'results', id: `line-${key}-results`, 'aria-label': `Items for line ${n}` }, search.results.map((it) => h('li', {},
    h('button', { type: 'button', class: 'result', dataset: { itemId: it.id }, onclick: (e) => busy(e.currentTarget, () => chooseItem(key, it)) },
      `Use ${it.name}`, it.unit_price ? ` (${money(it.unit_price, home)})` : ''))));
}

// ---------------------------------------------------------------- a new item from the product

async function openNewItem(key) {
  const line = lineOf(key);
  state.newItems.set(key, { loading: true });
  render();
  try {
    const data = await api('GET', `/api/products/${line.product_id}/new-item`);
    const samePrice = state.form.currency === data.currency ? line.unit_price : '';
    state.newItems.set(key, {
      data,
      values: {
        name: data.name,
        sku: data.sku || '',
        unit_price: data.unit_price ?? samePrice ?? '',
        income_account_id: data.income_account_id || (data.income_accounts[0] && data.income_accounts[0].id) || '',
        taxable: data.taxable,
      },
    });
  } catch (e) {
    state.newItems.set(key, { error: e.message });
  }
  render();
  const name = document.getElementById(`line-${key}-new-name`);
  if (name) name.focus();
}

async function createItem(key) {
  const line = lineOf(key);
  const entry = state.newItems.get(key);
  const v = entry.values;
  const body = {
    name: v.name.trim(),
    sku: v.sku.trim() || null,
    unit_price: String(v.unit_price || '').trim() || null,
    income_account_id: v.income_account_id,
    taxable: Boolean(v.taxable),
  };
  try {
    const { item } = await api('POST', `/api/products/${line.product_id}/item`, { body });
    const count = applyItem(line.product_id, line, item);
    snackbar(`${item.name} was created in QuickBooks; ${count} line${count === 1 ? '' : 's'} linked.`);
    render();
    focusAfterItem(key);
  } catch (e) {
    entry.error = e.message;
    entry.errors = e instanceof Problem ? e.errors : [];
    entry.existing = e instanceof Problem && e.is('name-taken') && e.body.current ? e.body.current.item : null;
    render();
    reveal(document.getElementById(`line-${key}-new-error`));
  }
}

function newItemForm(key) {
  const entry = state.newItems.get(key);
  if (!entry) return null;
  if (entry.loading) return h('p', { class: 'muted', 'aria-live': 'polite' }, 'Reading the Pipedrive product…');
  if (!entry.data) return h('p', { class: 'field-error', role: 'alert', id: `line-${key}-new-error` }, entry.error);
  const { data, values } = entry;
  const id = (name) => `line-${key}-new-${name}`;
  return h('fieldset', { class: 'new-item', id: `line-${key}-new-item` },
    h('legend', {}, 'New QuickBooks item'),
    h('div', { class: 'grid' },
      field('Name', id('name'), input(id('name'), values.name, (x) => { values.name = x; }, { maxlength: 100, required: true }), 'name'),
      field(`Price (${data.currency})`, id('price'), input(id('price'), values.unit_price, (x) => { values.unit_price = x; }, { inputmode: 'decimal' }), 'unit_price'),
      field('SKU', id('sku'), input(id('sku'), values.sku, (x) => { values.sku = x; }, { maxlength: 100 }), 'sku'),
      field('Income account', id('account'), select(id('account'), data.income_accounts.map((a) => [a.id, a.name]), values.income_account_id, (x) => { values.income_account_id = x; }), 'income_account_id')),
    data.us ? h('div', { class: 'field checkbox' },
      h('input', { type: 'checkbox', id: id('taxable'), checked: values.taxable, onchange: (e) => { values.taxable = e.target.checked; } }),
      h('label', { for: id('taxable') }, 'Taxable (sales tax applies)')) : null,
    entry.error ? h('div', { class: 'field-error', role: 'alert', id: `line-${key}-new-error` },
      h('p', {}, entry.error),
      (entry.errors || []).map((err) => h('p', {}, err.message)),
      entry.existing ? h('button', { type: 'button', id: `line-${key}-use-existing`, onclick: (e) => busy(e.currentTarget, () => chooseItem(key, entry.existing)) }, `Use ${entry.existing.name}`) : null) : null,
    h('p', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: id('create'), onclick: (e) => busy(e.currentTarget, () => createItem(key), { label: 'Creating item…' }) }, 'Create item'),
      h('button', { type: 'button', onclick: () => { state.newItems.delete(key); render(); } }, 'Cancel')));
}

// ---------------------------------------------------------------- one line

function itemPart(line, key, n) {
  if (line.item_id) {
    return h('p', { class: 'linked', id: `line-${key}-item` }, `✓ QuickBooks item: ${line.item_name || line.item_id} `,
      h('button', { type: 'button', class: 'link', 'aria-label': `Change the QuickBooks item of line ${n}`, onclick: () => { line.item_id = null; line.item_name = null; render(); } }, 'Change'));
  }
  if (!state.searches.has(key)) state.searches.set(key, { term: '', results: null, error: null });
  const search = state.searches.get(key);
  return h('div', { class: 'item-chooser' },
    h('p', { class: 'warning', id: `line-${key}-warning` },
      h('span', { class: 'warn-icon', role: 'img', 'aria-label': 'Not linked' }, '⚠'),
      ' Not linked to a QuickBooks product or service.'),
    h('div', { class: 'row' },
      h('label', { for: `line-${key}-search`, class: 'visually-hidden' }, `Search QuickBooks items for line ${n}`),
      input(`line-${key}-search`, search.term, (v) => { search.term = v; }, {
        type: 'search', autocomplete: 'off', placeholder: 'Search items (any word)',
        onfocus: () => { if (!search.results && !search.loading && !search.term.trim()) searchItems(key, ''); },
        onkeydown: (e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            searchItems(key, search.term).then((latest) => {
              const first = latest && document.querySelector(`#line-${key}-results button`);
              if (first) first.focus();
            });
          }
        },
      }),
      h('button', { type: 'button', id: `line-${key}-search-button`, 'aria-label': `Search items for line ${n}`, onclick: (e) => busy(e.currentTarget, () => searchItems(key, search.term)) }, 'Search')),
    itemResults(key, search, n),
    line.product_id && !state.newItems.has(key)
      ? h('button', { type: 'button', class: 'link', id: `line-${key}-new-item-button`, onclick: () => openNewItem(key) }, `Create “${line.name || 'this product'}” in QuickBooks`)
      : null,
    newItemForm(key));
}

function lineView(line, i) {
  const key = state.lineKeys[i];
  const n = i + 1;
  const note = state.taxNotes && state.taxNotes.get(key);
  const edited = () => { state.edited.add(key); };
  return h('li', { class: 'line', dataset: { line: String(i), key: String(key), unlinked: line.item_id ? 'false' : 'true' } },
    field(`Line ${n} description`, `line-${key}-name`, input(`line-${key}-name`, line.name, (v) => { line.name = v; updateTotals(); }), `lines[${i}].name`),
    h('div', { class: 'grid line-grid' },
      field('Quantity', `line-${key}-quantity`, input(`line-${key}-quantity`, line.quantity, (v) => { line.quantity = v.trim(); clearErrorsFor(`lines[${i}].quantity`); updateTotals(); }, { inputmode: 'decimal' }), `lines[${i}].quantity`),
      field(`Unit price (${state.form.currency})`, `line-${key}-price`, input(`line-${key}-price`, line.unit_price, (v) => { line.unit_price = v.trim(); edited(); clearErrorsFor(`lines[${i}].unit_price`); updateTotals(); }, { inputmode: 'decimal' }), `lines[${i}].unit_price`),
      field('Tax', `line-${key}-tax`, select(`line-${key}-tax`, taxOptions(), line.tax_code, (v) => { line.tax_code = v || null; clearErrorsFor(`lines[${i}].tax_code`); updateTotals(); }), `lines[${i}].tax_code`,
        !line.tax_code && note ? note : null)),
    discountText(line) ? h('p', { class: 'muted', dataset: { field: `lines[${i}].discount` } }, discountText(line)) : null,
    h('div', { class: 'field', dataset: { field: `lines[${i}].item_id` } }, itemPart(line, key, n)),
    h('p', { class: 'muted description', id: `line-${key}-description` }, descriptionText(line)),
    h('p', { class: 'line-foot' },
      h('span', { class: 'amount', id: `line-${key}-amount` }, amountText(line)),
      h('button', { type: 'button', class: 'link danger', id: `line-${key}-remove`, 'aria-label': `Remove line ${n}`, onclick: () => removeLine(i) }, 'Remove')));
}

// ---------------------------------------------------------------- adding, removing, undo

export function addLine() {
  const first = state.form.lines[0];
  state.form.lines.push({
    name: '', description: null, quantity: '1', unit_price: '0', discount: null, tax_percent: null,
    item_id: null, item_name: null, tax_code: first ? first.tax_code : null, product_id: null, deal_product_id: null,
  });
  const key = newKey();
  state.lineKeys.push(key);
  state.edited.add(key);
  render();
  const el = document.getElementById(`line-${key}-name`);
  if (el) el.focus();
}

function removeLine(i) {
  const [line] = state.form.lines.splice(i, 1);
  const [key] = state.lineKeys.splice(i, 1);
  state.removed = { line, key, index: i };
  state.fieldErrors = state.fieldErrors.filter((e) => !e.field.startsWith('lines['));
  render();
  const undo = document.getElementById('undo-remove');
  if (undo) undo.focus();
}

function undoRemove() {
  const { line, key, index } = state.removed;
  state.form.lines.splice(index, 0, line);
  state.lineKeys.splice(index, 0, key);
  state.removed = null;
  render();
  const el = document.getElementById(`line-${key}-name`);
  if (el) el.focus();
}

function removedNotice() {
  const { line, index } = state.removed;
  return h('li', { class: 'removed', id: 'removed-line', role: 'status' },
    `Line ${index + 1} “${line.name || 'without a description'}” was removed. `,
    h('button', { type: 'button', class: 'link', id: 'undo-remove', onclick: undoRemove }, 'Undo'));
}

export function itemsSection() {
  const rows = [];
  state.form.lines.forEach((line, i) => {
    if (state.removed && state.removed.index === i) rows.push(removedNotice());
    rows.push(lineView(line, i));
  });
  if (state.removed && state.removed.index >= state.form.lines.length) rows.push(removedNotice());
  const discounts = state.form.discounts || [];
  return h('fieldset', { class: 'section', dataset: { field: 'lines' } },
    h('legend', {}, 'Items'),
    h('ol', { class: 'lines', id: 'lines' }, rows),
    h('button', { type: 'button', id: 'add-line', onclick: addLine }, '+ Add line'),
    discounts.length
      ? h('ul', { class: 'discounts muted', 'aria-label': 'Deal discounts' }, discounts.map((d) => h('li', {},
        `${d.description}: ${d.discount.kind === 'percentage' ? `${d.discount.value} %` : money(d.discount.value, state.form.currency)}`)))
      : null);
}
