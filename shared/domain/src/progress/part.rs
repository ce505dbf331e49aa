//! From a form for the whole deal and its part to the form QuickBooks gets (module docs: how
//! and why).

use rust_decimal::Decimal;

use super::{BillingPart, BillingProgress, BillingRecord, LineQuantity, PartKind, value_of};
use crate::FieldError;
use crate::draft::{
    CompanySetup, Discount, FormLine, InvoiceForm, effective_mode, invoice_line_amount, preview,
    qty_and_price, round2,
};
use crate::money::NumberFormat;

/// The form to create, and what its link records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPart {
    pub form: InvoiceForm,
    pub record: BillingRecord,
}

/// Why a part cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartRefusal {
    /// The part itself is wrong (a 0 % deposit, a quantity over the line's).
    Invalid(FieldError),
    /// The part bills more than is left; the rep may confirm (`confirm_over_invoice`).
    OverInvoice { detail: String, left: Decimal },
}

/// Parts from 10,000,000,000,000 up are refused: far beyond any deal, and it keeps the scaling
/// arithmetic (`amount × line / whole`) well inside `Decimal`'s range.
const MAX_AMOUNT: Decimal = Decimal::from_parts(1_316_134_912, 2_328, 0, false, 0);

fn invalid(message: impl Into<String>) -> PartRefusal {
    PartRefusal::Invalid(FieldError::new("part", message))
}

/// The invoice for `form` (the whole deal's lines) and its `part`, given what the deal's
/// invoices already bill in the form's currency (`billed`: its `deal_value` is ignored, the
/// form's value counts). Without a part: the form as it is, recorded as the whole deal.
pub fn plan(
    form: &InvoiceForm,
    setup: &CompanySetup,
    billed: &BillingProgress,
    format: &NumberFormat,
) -> Result<PlannedPart, PartRefusal> {
    let whole = value_of(&preview(form, setup));
    let Some(part) = &form.part else {
        whole_after_parts(form, whole, billed, format)?;
        return Ok(PlannedPart {
            form: form.clone(),
            record: BillingRecord {
                kind: PartKind::Full,
                percent: None,
                amount: whole,
                whole,
                estimate_id: None,
            },
        });
    };
    let progress = billed.valued(whole);
    let Target {
        kind,
        percent,
        amount: target,
        weights,
        label,
    } = target_of(part, form, setup, &progress, format)?;
    if target <= Decimal::ZERO {
        return Err(invalid(
            "This part of the deal comes to 0: choose lines, a percentage or an amount that bills something.",
        ));
    }
    if target > progress.left && !form.confirm_over_invoice {
        return Err(PartRefusal::OverInvoice {
            detail: format!(
                "{} This invoice would bill {}: lower it, or confirm to invoice more than what is left.",
                progress.left_sentence(format),
                format.money(target, &form.currency)
            ),
            left: progress.left,
        });
    }
    let lines = scaled_lines(form, &weights, target, &label)?;
    Ok(PlannedPart {
        form: InvoiceForm {
            lines,
            discounts: Vec::new(),
            tax_mode: effective_mode(setup, form.tax_mode),
            part: None,
            ..form.clone()
        },
        record: BillingRecord {
            kind,
            percent,
            amount: target,
            whole,
            estimate_id: None,
        },
    })
}

/// A whole-deal invoice where parts of the deal are invoiced already bills more than is left:
/// refused with what is left, unless the rep confirms. Without parts (a deal's first invoice, or
/// another whole one, which the duplicate check asks about) nothing is checked.
fn whole_after_parts(
    form: &InvoiceForm,
    whole: Decimal,
    billed: &BillingProgress,
    format: &NumberFormat,
) -> Result<(), PartRefusal> {
    let progress = billed.valued(whole);
    if billed.parts == 0 || form.confirm_over_invoice || whole <= progress.left {
        return Ok(());
    }
    Err(PartRefusal::OverInvoice {
        detail: format!(
            "{} An invoice for the whole deal would bill {}: choose \"The rest\" under What to invoice, or confirm to invoice the whole deal again.",
            progress.left_sentence(format),
            format.money(whole, &form.currency)
        ),
        left: progress.left,
    })
}

/// A line of the form (its position), its amount in the invoice and the quantity to bill.
type Weight = (usize, Decimal, Decimal);

/// What a part comes to before it becomes lines.
struct Target {
    kind: PartKind,
    percent: Option<Decimal>,
    amount: Decimal,
    weights: Vec<Weight>,
    label: String,
}

/// The amount `part` bills (before tax added on top) and the lines it is spread over.
fn target_of(
    part: &BillingPart,
    form: &InvoiceForm,
    setup: &CompanySetup,
    progress: &BillingProgress,
    format: &NumberFormat,
) -> Result<Target, PartRefusal> {
    let money = |a| format.money(a, &form.currency);
    let whole = progress.deal_value;
    let spread = |kind, percent, amount, label| Target {
        kind,
        percent,
        amount,
        weights: whole_weights(form, setup),
        label,
    };
    match part {
        BillingPart::Percentage { percent } => {
            let amount = percent_of(*percent, whole, "the deal")?;
            let label = format!("{} % of the deal", percent.normalize());
            Ok(spread(PartKind::Percentage, Some(*percent), amount, label))
        }
        BillingPart::Amount { amount } => {
            check_amount(*amount, &money)?;
            let label = format!("{} of the deal's {}", money(*amount), money(whole));
            Ok(spread(PartKind::Amount, None, *amount, label))
        }
        BillingPart::Lines { lines } => lines_target(form, setup, lines, whole),
        BillingPart::Rest {} => {
            if progress.left.is_zero() {
                return Err(invalid(progress.left_sentence(format)));
            }
            let label = format!(
                "Rest of the deal: {} of {}",
                money(progress.left),
                money(whole)
            );
            Ok(spread(PartKind::Rest, None, progress.left, label))
        }
    }
}

/// `percent` % of `whole` (rounded as QuickBooks rounds), when `percent` is more than 0 and at
/// most 100; the refusal names what it is a percentage of (`of`: "the deal").
pub(crate) fn percent_of(
    percent: Decimal,
    whole: Decimal,
    of: &str,
) -> Result<Decimal, PartRefusal> {
    if percent <= Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
        return Err(invalid(format!(
            "A deposit is more than 0 % and at most 100 % of {of}, not {} %.",
            percent.normalize()
        )));
    }
    Ok(round2(whole * percent / Decimal::ONE_HUNDRED))
}

/// A fixed amount: more than 0, below [`MAX_AMOUNT`], in whole cents.
pub(crate) fn check_amount(
    amount: Decimal,
    money: &dyn Fn(Decimal) -> String,
) -> Result<(), PartRefusal> {
    if amount <= Decimal::ZERO {
        return Err(invalid(format!(
            "The amount to invoice must be more than 0, not {}.",
            money(amount)
        )));
    }
    if amount >= MAX_AMOUNT {
        return Err(invalid(format!(
            "The amount to invoice must be less than {}.",
            money(MAX_AMOUNT)
        )));
    }
    if round2(amount) != amount {
        return Err(invalid(format!(
            "The amount to invoice has at most 2 decimals ({} is not a whole number of cents).",
            amount.normalize()
        )));
    }
    Ok(())
}

/// Chosen lines at chosen quantities, with their share of the deal's discounts (spread over the
/// lines in proportion).
fn lines_target(
    form: &InvoiceForm,
    setup: &CompanySetup,
    lines: &[LineQuantity],
    whole: Decimal,
) -> Result<Target, PartRefusal> {
    let weights = chosen_weights(form, setup, lines)?;
    let lines_total: Decimal = whole_weights(form, setup).iter().map(|w| w.1).sum();
    let chosen: Decimal = weights.iter().map(|w| w.1).sum();
    let amount = if lines_total.is_zero() {
        chosen
    } else {
        round2(chosen * whole / lines_total)
    };
    Ok(Target {
        kind: PartKind::Lines,
        percent: None,
        amount,
        weights,
        label: String::new(),
    })
}

/// Every line of the form with its amount in the invoice, and the quantity to bill.
fn whole_weights(form: &InvoiceForm, setup: &CompanySetup) -> Vec<Weight> {
    form.lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i, invoice_line_amount(setup, form.tax_mode, l), l.quantity))
        .collect()
}

/// The chosen lines at the chosen quantities (a line discount as an amount is taken in
/// proportion to the quantity).
fn chosen_weights(
    form: &InvoiceForm,
    setup: &CompanySetup,
    chosen: &[LineQuantity],
) -> Result<Vec<Weight>, PartRefusal> {
    if chosen.is_empty() {
        return Err(invalid("Choose at least one line to invoice."));
    }
    let mut weights: Vec<Weight> = Vec::with_capacity(chosen.len());
    for c in chosen {
        let Some(line) = form.lines.get(c.index) else {
            return Err(invalid(format!(
                "The deal has {} lines: there is no line {}.",
                form.lines.len(),
                c.index.saturating_add(1)
            )));
        };
        if weights.iter().any(|w| w.0 == c.index) {
            return Err(invalid(format!(
                "Line {} ({}) is chosen twice.",
                c.index.saturating_add(1),
                line.name
            )));
        }
        if c.quantity <= Decimal::ZERO || c.quantity > line.quantity {
            return Err(invalid(format!(
                "Line {} ({}): the quantity to invoice is more than 0 and at most the deal's {}, not {}.",
                c.index.saturating_add(1),
                line.name,
                line.quantity.normalize(),
                c.quantity.normalize()
            )));
        }
        let part_line = FormLine {
            quantity: c.quantity,
            discount: line.discount.map(|d| match d {
                Discount::Amount(a) => Discount::Amount(round2(a * c.quantity / line.quantity)),
                percentage => percentage,
            }),
            ..line.clone()
        };
        weights.push((
            c.index,
            invoice_line_amount(setup, form.tax_mode, &part_line),
            c.quantity,
        ));
    }
    weights.sort_by_key(|w| w.0);
    Ok(weights)
}

/// The lines of `weights` scaled so that they add up to `target` exactly: each
/// `round2(weight × target / sum)`, the last line with a weight taking what rounding left.
fn scaled_lines(
    form: &InvoiceForm,
    weights: &[Weight],
    target: Decimal,
    label: &str,
) -> Result<Vec<FormLine>, PartRefusal> {
    let amounts: Vec<Decimal> = weights.iter().map(|w| w.1).collect();
    let split = split_to_target(&amounts, target, "The deal's lines")?;
    let mut lines = Vec::with_capacity(weights.len());
    for (&(index, _, quantity), amount) in weights.iter().zip(split) {
        let Some(amount) = amount else {
            continue;
        };
        let line = &form.lines[index];
        let (quantity, unit_price) = qty_and_price(quantity, amount);
        let description = match (line.description.as_deref().map(str::trim), label) {
            (_, "") => line.description.clone(),
            (Some(d), _) if !d.is_empty() => Some(format!("{d} — {label}")),
            _ => Some(label.to_string()),
        };
        lines.push(FormLine {
            quantity,
            unit_price,
            discount: None,
            description,
            ..line.clone()
        });
    }
    Ok(lines)
}

/// `weights` (line amounts) scaled so that they add up to `target` exactly: each
/// `round2(weight × target / sum)`, the last non-zero weight taking what rounding left. `None`
/// for a line that comes to 0 (left out; never the last). `whose` names the lines in the
/// refusal when they add up to 0 ("The deal's lines").
pub(crate) fn split_to_target(
    weights: &[Decimal],
    target: Decimal,
    whose: &str,
) -> Result<Vec<Option<Decimal>>, PartRefusal> {
    let sum: Decimal = weights.iter().sum();
    if sum <= Decimal::ZERO {
        return Err(invalid(format!(
            "{whose} add up to 0: there is nothing to take a part of."
        )));
    }
    let last = weights.iter().rposition(|w| !w.is_zero()).unwrap_or(0);
    let mut given = Decimal::ZERO;
    let mut amounts = Vec::with_capacity(weights.len());
    for (position, weight) in weights.iter().enumerate() {
        let amount = if position == last {
            target - given
        } else {
            weight
                .checked_mul(target)
                .and_then(|product| product.checked_div(sum))
                .map(round2)
                .ok_or_else(|| invalid("The amounts are too large to divide into lines."))?
        };
        given += amount;
        amounts.push((!amount.is_zero() || position == last).then_some(amount));
    }
    Ok(amounts)
}
