//! An accepted estimate invoiced in parts (a deposit, then progress invoices, then the rest):
//! what is billed of it, and the invoice for the part asked (module docs of
//! [`super`]: how and why).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{billing_of, invoice_from_estimate};
use crate::FieldError;
use crate::draft::qty_and_price;
use crate::money::NumberFormat;
use crate::progress::{
    Billed, BillingPart, BillingProgress, BillingRecord, LineQuantity, PartKind, PartRefusal,
    check_amount, percent_of, split_to_target,
};
use quickbooks_wire::model::{Estimate, Invoice, Line, LineDetailType};

/// [`EstimatePart::phrase`] of the whole estimate invoiced at once.
pub const ALL_OF_IT: &str = "all of it";

/// The invoice to create for a request on an estimate, and what its link records.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatePart {
    pub invoice: Invoice,
    pub record: BillingRecord,
    /// Whether it bills the estimate to completion (nothing left after it): only then does it
    /// carry the `LinkedTxn` to the estimate, so that QuickBooks closes the estimate.
    pub closes: bool,
    /// How the deal's log names the part: "30 %", "the rest", "all of it".
    pub phrase: String,
}

/// What the deal's live invoices (`invoices`: any estimate) bill of the estimate `estimate_id`,
/// the estimate worth `whole` in `currency`. An invoice made from the estimate is in its
/// currency whatever its link says (a link may lack the currency QuickBooks left out).
pub fn estimate_progress(
    estimate_id: &str,
    currency: &str,
    whole: Decimal,
    invoices: &[Billed<'_>],
) -> BillingProgress {
    let of_it: Vec<Billed> = invoices
        .iter()
        .filter(|b| b.billing.and_then(|r| r.estimate_id.as_deref()) == Some(estimate_id))
        .map(|b| Billed { currency, ..*b })
        .collect();
    BillingProgress::of(currency, whole, &of_it)
}

/// The estimate's value as the progress measures it when some invoice records it (the newest
/// record of it), with what is invoiced of it; `None` when no invoice bills it.
pub fn recorded_progress(
    estimate_id: &str,
    currency: &str,
    invoices: &[Billed<'_>],
) -> Option<BillingProgress> {
    let whole = invoices
        .iter()
        .filter_map(|b| b.billing.map(|r| (b.newest, r)))
        .filter(|(_, r)| r.estimate_id.as_deref() == Some(estimate_id))
        .max_by_key(|(at, _)| *at)
        .map(|(_, r)| r.whole)?;
    Some(estimate_progress(estimate_id, currency, whole, invoices))
}

/// The invoice for `part` of `estimate` (named `name`, "Estimate #1001"), given what live
/// invoices bill of it already (`billed`: its `deal_value` is ignored, the estimate's counts),
/// dated `txn_date`. Without a part: all of it when nothing is billed yet (the estimate's own
/// lines, [`invoice_from_estimate`]), else the rest.
pub fn plan_estimate_part(
    estimate: &Estimate,
    name: &str,
    part: Option<&BillingPart>,
    confirm_over_invoice: bool,
    billed: &BillingProgress,
    txn_date: NaiveDate,
    format: &NumberFormat,
) -> Result<EstimatePart, PartRefusal> {
    let full = billing_of(estimate);
    let progress = billed.valued(full.whole);
    let part = match part {
        Some(part) => part,
        None if progress.invoiced.is_zero() => {
            let invoice = invoice_from_estimate(estimate, txn_date)
                .map_err(|e| invalid(format!("{name} cannot be read: {e}.")))?;
            return Ok(EstimatePart {
                invoice,
                record: full,
                closes: true,
                phrase: ALL_OF_IT.into(),
            });
        }
        None => &BillingPart::Rest {},
    };
    let Target {
        kind,
        percent,
        amount: target,
        label,
        phrase,
    } = target_of(estimate, name, part, &progress, format)?;
    let money = |a| format.money(a, &progress.currency);
    if target <= Decimal::ZERO {
        return Err(invalid(format!(
            "This part of {name} comes to 0: choose lines, a percentage or an amount that bills something."
        )));
    }
    if target > progress.left && !confirm_over_invoice {
        return Err(PartRefusal::OverInvoice {
            detail: format!(
                "{} This invoice would bill {}: lower it, or confirm to invoice more than what is left.",
                left_sentence(name, &progress, format),
                money(target)
            ),
            left: progress.left,
        });
    }
    let closes = target >= progress.left;
    let weights = match part {
        BillingPart::Lines { lines } => chosen_weights(estimate, lines)?,
        _ => sales_weights(estimate),
    };
    let mut invoice = invoice_from_estimate(estimate, txn_date)
        .map_err(|e| invalid(format!("{name} cannot be read: {e}.")))?;
    invoice.line = Some(scaled_lines(estimate, &weights, target, &label)?);
    if !closes {
        invoice.linked_txn = None;
        let note = format!("Part of {name}");
        invoice.private_note = Some(match invoice.private_note.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => format!("{n}\n{note}"),
            _ => note,
        });
    }
    Ok(EstimatePart {
        invoice,
        record: BillingRecord {
            kind,
            percent,
            amount: target,
            ..full
        },
        closes,
        phrase,
    })
}

/// What a part comes to before it becomes lines.
struct Target {
    kind: PartKind,
    percent: Option<Decimal>,
    amount: Decimal,
    /// In each line's description: "30 % of Estimate #1001".
    label: String,
    phrase: String,
}

/// The amount `part` bills of the estimate (`progress`: what is billed of it, valued at its
/// whole), refused when the part is wrong.
fn target_of(
    estimate: &Estimate,
    name: &str,
    part: &BillingPart,
    progress: &BillingProgress,
    format: &NumberFormat,
) -> Result<Target, PartRefusal> {
    let money = |a| format.money(a, &progress.currency);
    let whole = progress.deal_value;
    let (kind, percent, amount, label, phrase) = match part {
        BillingPart::Percentage { percent } => {
            let amount = percent_of(*percent, whole, name)?;
            let p = percent.normalize();
            let label = format!("{p} % of {name}");
            (
                PartKind::Percentage,
                Some(*percent),
                amount,
                label,
                format!("{p} %"),
            )
        }
        BillingPart::Amount { amount } => {
            check_amount(*amount, &money)?;
            let label = format!("{} of {name}", money(*amount));
            (PartKind::Amount, None, *amount, label, money(*amount))
        }
        BillingPart::Lines { lines } => {
            let amount = lines_amount(estimate, lines, whole)?;
            let label = format!("Part of {name}");
            (PartKind::Lines, None, amount, label, "chosen lines".into())
        }
        BillingPart::Rest {} => {
            if progress.left.is_zero() {
                return Err(invalid(left_sentence(name, progress, format)));
            }
            let label = format!("Rest of {name}");
            (
                PartKind::Rest,
                None,
                progress.left,
                label,
                "the rest".into(),
            )
        }
    };
    Ok(Target {
        kind,
        percent,
        amount,
        label,
        phrase,
    })
}

/// "Only 700.01 USD is left to invoice of Estimate #1001 (value before tax 1,000.01 USD,
/// invoiced 300.00 USD)."
pub fn left_sentence(name: &str, progress: &BillingProgress, format: &NumberFormat) -> String {
    progress.left_sentence_of(format, &format!("of {name}"), "value before tax")
}

fn invalid(message: impl Into<String>) -> PartRefusal {
    PartRefusal::Invalid(FieldError::new("part", message))
}

/// A sales line of the estimate (its position among all its lines), its amount in the part's
/// basis and the quantity to bill.
type Weight = (usize, Decimal, Option<Decimal>);

/// The estimate's lines with their position among all its lines.
fn sales_lines(estimate: &Estimate) -> impl Iterator<Item = (usize, &Line)> {
    estimate
        .sale
        .line
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, l)| l.detail_type == LineDetailType::SalesItemLineDetail)
}

fn qty_of(line: &Line) -> Option<Decimal> {
    line.sales_item_line_detail.as_ref().and_then(|d| d.qty)
}

/// Every sales line at its own amount and quantity.
fn sales_weights(estimate: &Estimate) -> Vec<Weight> {
    sales_lines(estimate)
        .map(|(i, l)| (i, l.amount.unwrap_or(Decimal::ZERO), qty_of(l)))
        .collect()
}

/// The chosen sales lines (`index`: among the sales lines) at the chosen quantities.
fn chosen_weights(
    estimate: &Estimate,
    chosen: &[LineQuantity],
) -> Result<Vec<Weight>, PartRefusal> {
    if chosen.is_empty() {
        return Err(invalid("Choose at least one line to invoice."));
    }
    let sales: Vec<(usize, &Line)> = sales_lines(estimate).collect();
    let mut weights: Vec<Weight> = Vec::with_capacity(chosen.len());
    for c in chosen {
        let Some(&(at, line)) = sales.get(c.index) else {
            return Err(invalid(format!(
                "The estimate has {} lines: there is no line {}.",
                sales.len(),
                c.index.saturating_add(1)
            )));
        };
        if weights.iter().any(|w| w.0 == at) {
            return Err(invalid(format!(
                "Line {} is chosen twice.",
                c.index.saturating_add(1)
            )));
        }
        let qty = qty_of(line).unwrap_or(Decimal::ONE);
        if c.quantity <= Decimal::ZERO || c.quantity > qty {
            return Err(invalid(format!(
                "Line {}: the quantity to invoice is more than 0 and at most the estimate's {}, not {}.",
                c.index.saturating_add(1),
                qty.normalize(),
                c.quantity.normalize()
            )));
        }
        let amount = line.amount.unwrap_or(Decimal::ZERO);
        let weight = if qty.is_zero() {
            amount
        } else {
            amount * c.quantity / qty
        };
        weights.push((at, weight, Some(c.quantity)));
    }
    weights.sort_by_key(|w| w.0);
    Ok(weights)
}

/// What chosen lines bill: their amounts with their share of the estimate's discounts.
fn lines_amount(
    estimate: &Estimate,
    chosen: &[LineQuantity],
    whole: Decimal,
) -> Result<Decimal, PartRefusal> {
    let chosen: Decimal = chosen_weights(estimate, chosen)?.iter().map(|w| w.1).sum();
    let lines_total: Decimal = sales_weights(estimate).iter().map(|w| w.1).sum();
    Ok(if lines_total.is_zero() {
        crate::draft::round2(chosen)
    } else {
        crate::draft::round2(chosen * whole / lines_total)
    })
}

/// The estimate's lines of `weights`, scaled to add up to `target` exactly (the estimate's
/// discounts spread over them: the part carries no discount line), each named with `label`.
fn scaled_lines(
    estimate: &Estimate,
    weights: &[Weight],
    target: Decimal,
    label: &str,
) -> Result<Vec<Line>, PartRefusal> {
    let amounts: Vec<Decimal> = weights.iter().map(|w| w.1).collect();
    let split = split_to_target(&amounts, target, "The estimate's lines")?;
    let all: Vec<&Line> = estimate.sale.line.iter().flatten().collect();
    let mut lines = Vec::with_capacity(weights.len());
    for (&(at, _, quantity), amount) in weights.iter().zip(split) {
        let (Some(amount), Some(line)) = (amount, all.get(at)) else {
            continue;
        };
        let description = match line.description.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => format!("{d} — {label}"),
            _ => label.to_string(),
        };
        let detail = line.sales_item_line_detail.clone().map(|d| {
            let (qty, unit_price) =
                qty_and_price(quantity.or(d.qty).unwrap_or(Decimal::ONE), amount);
            quickbooks_wire::model::SalesItemLineDetail {
                qty: Some(qty),
                unit_price: Some(unit_price),
                tax_inclusive_amt: None,
                discount_rate: None,
                ..d
            }
        });
        lines.push(Line {
            id: None,
            line_num: None,
            linked_txn: None,
            description: Some(description),
            amount: Some(amount),
            sales_item_line_detail: detail,
            ..(*line).clone()
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests;
