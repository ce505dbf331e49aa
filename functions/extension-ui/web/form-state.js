// The create modal's state, shared by its parts (customer, currency, lines, totals), and the one
// `render` they call after changing it.

export const state = {
  deal: null,
  /** The draft as the API answered it. */
  draft: null,
  /** The form being edited (sent as the create body, so only the API's fields). */
  form: null,
  /** {id, display_name, currency, active} once linked. */
  customer: null,
  updateCustomer: false,
  /** Stable keys of the lines (ids, labels, focus), in the lines' order. */
  lineKeys: [],
  nextKey: 0,
  /** Per line key: {term, results, error}. */
  searches: new Map(),
  /** Per line key: the "create the item" form ({loading, data, error}). */
  newItems: new Map(),
  customerSearch: { term: '', results: null, error: null },
  /** The 409 of a name QuickBooks already has: {customer, suggested_name, detail}. */
  nameTaken: null,
  /** The last removed line, until undone or the next removal: {line, key, index}. */
  removed: null,
  /** A currency change waiting for the rep: {to, rate, rateText, source, as_of, note, loading, error}. */
  pending: null,
  /** Per line key: the deal's price and discount of a line (in the deal's currency). */
  originals: new Map(),
  /** Keys of lines whose price the rep typed since the prices were last converted. */
  edited: new Set(),
  /** The rep set the due date by hand (it no longer follows the invoice date). */
  dueManual: false,
  generalErrors: [],
  /** Field problems (the draft's, then the last create's), shown next to their fields. */
  fieldErrors: [],
};

let renderer = () => {};

/** Sets what `render` does (the modal's full render). */
export function setRenderer(fn) {
  renderer = fn;
}

export function render() {
  renderer();
}

/** Adds a line's key (a new line) and returns it. */
export function newKey() {
  const key = state.nextKey;
  state.nextKey += 1;
  return key;
}

/** Forgets the errors about `field` (and every general error): the rep changed it. */
export function clearErrorsFor(field) {
  state.generalErrors = [];
  state.fieldErrors = state.fieldErrors.filter((e) => e.field !== field && !e.field.startsWith(`${field}.`));
  const box = document.getElementById('form-errors');
  if (box) {
    box.replaceChildren();
    box.classList.remove('notice');
  }
}

/** The deal's currency (what the prices came in). */
export function dealCurrency() {
  return state.form.deal_currency || state.draft.deal.currency || state.form.currency;
}
