// The totals the create modal shows, computed as QuickBooks will (a port of
// `shared::domain::draft::preview`, exact decimals), and the description each line gets in
// QuickBooks (as `shared::domain::draft::build_invoice` writes it).

import { amount, ENGLISH } from './common.js';
import { Dec, HUNDRED, ZERO, sum } from './decimal.js';
import { state } from './form-state.js';

export function round2(d) { return d.round(2); }

export function lineAmount(line) {
  const qty = Dec.parse(line.quantity) || ZERO;
  const price = Dec.parse(line.unit_price) || ZERO;
  const gross = qty.mul(price);
  const d = line.discount;
  if (!d) return round2(gross);
  const value = Dec.parse(d.value) || ZERO;
  if (d.kind === 'percentage') return round2(gross.sub(gross.mul(value).div(HUNDRED)));
  return round2(gross.sub(value));
}

function setupOf() { return state.draft.quickbooks; }

export function taxCode(id) { return setupOf().tax_codes.find((c) => c.id === id); }

export function totalRate(code) { return sum((code && code.rates) || []); }

function effectiveMode(mode) {
  return setupOf().us && mode === 'inclusive' ? 'exclusive' : mode;
}

export function invoiceLineAmount(mode, line) {
  const amount = lineAmount(line);
  if (setupOf().us && mode === 'inclusive') {
    const pct = Dec.parse(line.tax_percent) || ZERO;
    return round2(amount.div(Dec.of(1).add(pct.div(HUNDRED))));
  }
  return amount;
}

function discountAmount(discounts, base) {
  if (!discounts.length) return ZERO;
  if (discounts.length === 1 && discounts[0].discount.kind === 'percentage') {
    return round2(base.mul(Dec.of(discounts[0].discount.value)).div(HUNDRED));
  }
  return sum(discounts.map((d) => (d.discount.kind === 'percentage'
    ? round2(base.mul(Dec.of(d.discount.value)).div(HUNDRED))
    : round2(Dec.of(d.discount.value)))));
}

/** A port of `shared::domain::draft::preview`: the totals QuickBooks will compute. */
export function preview(f) {
  const setup = setupOf();
  const mode = effectiveMode(f.tax_mode);
  const amounts = f.lines.map((l) => invoiceLineAmount(f.tax_mode, l));
  const linesTotal = sum(amounts);
  const inclusive = !setup.us && mode === 'inclusive';
  const rateOf = (code) => totalRate(code ? taxCode(code) : null);
  const nets = inclusive
    ? f.lines.map((l, i) => round2(amounts[i].div(Dec.of(1).add(rateOf(l.tax_code).div(HUNDRED)))))
    : amounts;
  const subtotal = sum(nets);
  const discount = discountAmount(f.discounts || [], inclusive ? linesTotal : subtotal);
  const afterDiscount = (f.discounts || []).length > 0 && !inclusive;
  const factor = afterDiscount && subtotal.cmp(ZERO) > 0 ? subtotal.sub(discount.min(subtotal)).div(subtotal) : Dec.of(1);
  let tax = ZERO;
  if (setup.us) {
    const taxable = sum(f.lines.map((l, i) => (l.tax_code === 'TAX' ? nets[i] : ZERO)));
    const base = round2(taxable.mul(factor));
    const code = f.txn_tax_code ? taxCode(f.txn_tax_code) : null;
    if (code && base.cmp(ZERO) > 0) {
      for (const rate of code.rates) tax = tax.add(round2(base.mul(Dec.of(rate)).div(HUNDRED)));
    }
  } else if (mode !== 'none') {
    const byCode = new Map();
    f.lines.forEach((l, i) => {
      if (!l.tax_code) return;
      const e = byCode.get(l.tax_code) || { net: ZERO, gross: ZERO };
      e.net = e.net.add(nets[i]);
      e.gross = e.gross.add(amounts[i]);
      byCode.set(l.tax_code, e);
    });
    for (const [id, { net, gross }] of [...byCode.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const code = taxCode(id);
      if (!code) continue;
      const base = round2(net.mul(factor));
      if (inclusive) {
        tax = tax.add(gross.sub(net));
      } else {
        for (const rate of code.rates) tax = tax.add(round2(base.mul(Dec.of(rate)).div(HUNDRED)));
      }
    }
  }
  const total = inclusive ? linesTotal.sub(discount) : subtotal.sub(discount).add(tax);
  return { linesTotal, subtotal, discount, tax, total };
}


/** Quantity and unit price QuickBooks multiplies back to exactly `total` (else 1 × the total). */
function qtyAndPrice(quantity, total) {
  if (!quantity.isZero()) {
    const unit = total.div(quantity).round(5);
    if (round2(quantity.mul(unit)).cmp(total) === 0) return [quantity, unit];
  }
  return [Dec.of(1), total];
}

/** What the line's description will read in QuickBooks (before Create, so the rep sees it). */
export function lineDescription(mode, line) {
  let text = (line.name || '').trim();
  if (line.description && line.description.trim()) text += ` — ${line.description.trim()}`;
  const d = line.discount;
  if (d && d.kind === 'percentage') text += ` (incl. ${Dec.of(d.value).toString()}% discount)`;
  if (d && d.kind === 'amount') text += ` (incl. ${amount(d.value, ENGLISH)} discount)`;
  try {
    const quantity = Dec.of(line.quantity || '0');
    const [qty] = qtyAndPrice(quantity, invoiceLineAmount(mode, line));
    if (qty.cmp(quantity) !== 0) text += ` (${quantity.toString()} × ${Dec.of(line.unit_price || '0').toString()})`;
  } catch {
    // Not a number yet: the description without the quantity note.
  }
  return text;
}
