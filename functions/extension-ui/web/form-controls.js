// Small form controls of the create modal: a labelled field, an input, a select (with its chosen
// option's full text as a tooltip, so a narrow select never hides it).

import { h } from './common.js';

export function field(label, id, control, fieldName, hint) {
  return h('div', { class: 'field', dataset: { field: fieldName || id } },
    h('label', { for: id }, label), control, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
}

export function input(id, value, onInput, attrs = {}) {
  return h('input', { id, name: id, value: value ?? '', oninput: (e) => onInput(e.target.value), ...attrs });
}

export function select(id, options, value, onChange, attrs = {}) {
  const chosen = options.find(([v]) => v === (value ?? ''));
  return h('select', {
    id,
    name: id,
    title: chosen ? chosen[1] : '',
    onchange: (e) => {
      e.target.title = e.target.selectedOptions[0] ? e.target.selectedOptions[0].textContent : '';
      onChange(e.target.value);
    },
    ...attrs,
  }, options.map(([v, label]) => h('option', { value: v, selected: v === (value ?? '') }, label)));
}
