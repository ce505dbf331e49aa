//! The totals QuickBooks computes, computed the same way before the invoice exists: tax per rate
//! on the summed taxable amount of each code (after the discount when there is one), inclusive
//! amounts split into net and tax per line.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{
    CompanySetup, DealDiscountLine, Discount, FormLine, HUNDRED, InvoiceForm, TaxAmount,
    TaxCodeInfo, TaxMode, Totals, round2,
};
use quickbooks_wire::model::{DiscountLineDetail, Line, LineDetailType};

/// How US companies treat an inclusive deal: lines are converted to net with Pipedrive's
/// percentage (US sales tax is always added on top).
pub(crate) fn effective_mode(setup: &CompanySetup, mode: TaxMode) -> TaxMode {
    if setup.us && mode == TaxMode::Inclusive {
        TaxMode::Exclusive
    } else {
        mode
    }
}

/// Whether the invoice's amounts include the tax (non-US companies only).
pub(super) fn is_inclusive(setup: &CompanySetup, mode: TaxMode) -> bool {
    !setup.us && effective_mode(setup, mode) == TaxMode::Inclusive
}

/// A line's amount in the invoice (net for US companies whose deal is tax-inclusive).
pub(crate) fn invoice_line_amount(setup: &CompanySetup, mode: TaxMode, line: &FormLine) -> Decimal {
    let amount = line.amount();
    if setup.us && mode == TaxMode::Inclusive {
        let pct = line.tax_percent.unwrap_or(Decimal::ZERO);
        round2(amount / (Decimal::ONE + pct / HUNDRED))
    } else {
        amount
    }
}

/// The amounts of the deal discounts, on `base`: one line in QuickBooks (a percentage when there
/// is exactly one percentage discount, else the summed amount).
pub(super) fn discount_line(
    discounts: &[DealDiscountLine],
    base: Decimal,
) -> Option<(Decimal, Line)> {
    if discounts.is_empty() {
        return None;
    }
    let description = discounts
        .iter()
        .map(|d| d.description.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let (amount, detail, line_amount) = match discounts {
        [
            DealDiscountLine {
                discount: Discount::Percentage(p),
                ..
            },
        ] => (
            round2(base * *p / HUNDRED),
            DiscountLineDetail {
                percent_based: Some(true),
                discount_percent: Some(*p),
                ..DiscountLineDetail::default()
            },
            None,
        ),
        many => {
            let total: Decimal = many
                .iter()
                .map(|d| match d.discount {
                    Discount::Percentage(p) => round2(base * p / HUNDRED),
                    Discount::Amount(a) => round2(a),
                })
                .sum();
            (
                total,
                DiscountLineDetail {
                    percent_based: Some(false),
                    ..DiscountLineDetail::default()
                },
                Some(total),
            )
        }
    };
    let line = Line {
        id: None,
        line_num: None,
        description: Some(description),
        amount: line_amount,
        detail_type: LineDetailType::DiscountLineDetail,
        sales_item_line_detail: None,
        discount_line_detail: Some(detail),
        sub_total_line_detail: None,
        group_line_detail: None,
        description_line_detail: None,
        linked_txn: None,
    };
    Some((amount, line))
}

/// The base the deal discount applies to: the gross lines when inclusive, else the subtotal.
pub(super) fn discount_base(inclusive: bool, lines_total: Decimal, subtotal: Decimal) -> Decimal {
    if inclusive { lines_total } else { subtotal }
}

/// The lines' amounts as the invoice carries them, and their net (QuickBooks derives net from
/// gross per line when inclusive).
struct LineAmounts {
    amounts: Vec<Decimal>,
    nets: Vec<Decimal>,
}

fn line_amounts(form: &InvoiceForm, setup: &CompanySetup, inclusive: bool) -> LineAmounts {
    let amounts: Vec<Decimal> = form
        .lines
        .iter()
        .map(|l| invoice_line_amount(setup, form.tax_mode, l))
        .collect();
    let nets = if inclusive {
        form.lines
            .iter()
            .zip(&amounts)
            .map(|(l, gross)| {
                round2(*gross / (Decimal::ONE + rate_of(setup, &l.tax_code) / HUNDRED))
            })
            .collect()
    } else {
        amounts.clone()
    };
    LineAmounts { amounts, nets }
}

fn rate_of(setup: &CompanySetup, code: &Option<String>) -> Decimal {
    code.as_deref()
        .and_then(|c| setup.tax_code(c))
        .map(TaxCodeInfo::total_rate)
        .unwrap_or_default()
}

/// The totals QuickBooks will compute for [`super::build_invoice`]'s invoice.
pub fn preview(form: &InvoiceForm, setup: &CompanySetup) -> Totals {
    let mode = effective_mode(setup, form.tax_mode);
    let inclusive = is_inclusive(setup, form.tax_mode);
    let LineAmounts { amounts, nets } = line_amounts(form, setup, inclusive);
    let lines_total: Decimal = amounts.iter().copied().sum();
    let subtotal: Decimal = nets.iter().copied().sum();
    let discount = discount_line(
        &form.discounts,
        discount_base(inclusive, lines_total, subtotal),
    )
    .map(|(a, _)| a)
    .unwrap_or_default();
    let after_discount = !form.discounts.is_empty() && !inclusive;
    let factor = if after_discount && subtotal > Decimal::ZERO {
        (subtotal - discount.min(subtotal)) / subtotal
    } else {
        Decimal::ONE
    };
    let taxes = if setup.us {
        us_taxes(form, setup, &nets, factor)
    } else if mode != TaxMode::None {
        coded_taxes(
            form,
            setup,
            &LineAmounts { amounts, nets },
            factor,
            inclusive,
        )
    } else {
        Vec::new()
    };
    let tax: Decimal = taxes.iter().map(|t| t.tax).sum();
    let total = if inclusive {
        lines_total - discount
    } else {
        subtotal - discount + tax
    };
    Totals {
        lines_total,
        subtotal,
        discount,
        tax,
        taxes,
        total,
    }
}

/// US: the transaction's rate group on the taxable lines (after the discount's `factor`).
fn us_taxes(
    form: &InvoiceForm,
    setup: &CompanySetup,
    nets: &[Decimal],
    factor: Decimal,
) -> Vec<TaxAmount> {
    let taxable: Decimal = form
        .lines
        .iter()
        .zip(nets)
        .filter(|(l, _)| l.tax_code.as_deref() == Some("TAX"))
        .map(|(_, n)| *n)
        .sum();
    let base = round2(taxable * factor);
    match form.txn_tax_code.as_deref().and_then(|c| setup.tax_code(c)) {
        Some(code) if base > Decimal::ZERO => added_taxes(&code.id, &code.rates, base),
        _ => Vec::new(),
    }
}

/// Other companies: per tax code, each of its rates on the code's summed net amount.
fn coded_taxes(
    form: &InvoiceForm,
    setup: &CompanySetup,
    lines: &LineAmounts,
    factor: Decimal,
    inclusive: bool,
) -> Vec<TaxAmount> {
    let mut by_code: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for ((line, net), gross) in form.lines.iter().zip(&lines.nets).zip(&lines.amounts) {
        if let Some(code) = &line.tax_code {
            let e = by_code.entry(code.clone()).or_default();
            e.0 += *net;
            e.1 += *gross;
        }
    }
    let mut taxes = Vec::new();
    for (code_id, (net, gross)) in by_code {
        let Some(code) = setup.tax_code(&code_id) else {
            continue;
        };
        let base = round2(net * factor);
        if inclusive {
            taxes.extend(included_taxes(&code_id, &code.rates, base, gross - net));
        } else {
            taxes.extend(added_taxes(&code_id, &code.rates, base));
        }
    }
    taxes
}

/// Each rate on `base`, rounded per rate.
fn added_taxes(code_id: &str, rates: &[Decimal], base: Decimal) -> Vec<TaxAmount> {
    rates
        .iter()
        .map(|rate| TaxAmount {
            tax_code: code_id.to_string(),
            rate: *rate,
            base,
            tax: round2(base * *rate / HUNDRED),
        })
        .collect()
}

/// The tax already inside the gross amounts (`code_tax`), split over the code's rates in
/// proportion; the last rate takes what rounding left.
fn included_taxes(
    code_id: &str,
    rates: &[Decimal],
    base: Decimal,
    code_tax: Decimal,
) -> Vec<TaxAmount> {
    let pct_sum: Decimal = rates.iter().copied().sum();
    let mut allocated = Decimal::ZERO;
    let mut taxes = Vec::with_capacity(rates.len());
    for (i, rate) in rates.iter().enumerate() {
        let tax = if i + 1 == rates.len() || pct_sum.is_zero() {
            code_tax - allocated
        } else {
            round2(code_tax * *rate / pct_sum)
        };
        allocated += tax;
        taxes.push(TaxAmount {
            tax_code: code_id.to_string(),
            rate: *rate,
            base,
            tax,
        });
    }
    taxes
}
