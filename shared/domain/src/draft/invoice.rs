//! The QuickBooks `Invoice` a validated form becomes.

use rust_decimal::{Decimal, RoundingStrategy};

use super::totals::{
    discount_base, discount_line, effective_mode, invoice_line_amount, is_inclusive,
};
use super::{CompanySetup, Discount, FormLine, InvoiceForm, format_money, preview, round2};
use quickbooks_wire::model::{
    CustomField, EmailAddress, Invoice, Line, LineDetailType, MemoRef, Ref, SalesItemLineDetail,
    TxnTaxDetail,
};

/// Quantity and unit price that QuickBooks multiplies back to exactly `amount`: the discounted
/// unit price when it has at most 5 decimals that round back, else one unit at the amount.
pub(crate) fn qty_and_price(quantity: Decimal, amount: Decimal) -> (Decimal, Decimal) {
    if !quantity.is_zero() {
        let unit = (amount / quantity)
            .round_dp_with_strategy(5, RoundingStrategy::MidpointAwayFromZero)
            .normalize();
        if round2(quantity * unit) == amount {
            return (quantity.normalize(), unit);
        }
    }
    (Decimal::ONE, amount)
}

/// The private note with what a conversion did (kept with the invoice in QuickBooks).
fn private_note(form: &InvoiceForm) -> Option<String> {
    let note = form.private_note.clone().filter(|n| !n.trim().is_empty());
    match (&form.conversion, note) {
        (Some(c), Some(note)) => Some(format!("{note}\n{}", crate::conversion::note(c))),
        (Some(c), None) => Some(crate::conversion::note(c)),
        (None, note) => note,
    }
}

/// The QuickBooks invoice for a validated form ([`super::validate`] first). `request` text goes
/// in the `Description` of each line; the line discount is folded into the unit price
/// (QuickBooks has no per-line discount on sales lines) and named in the description.
pub fn build_invoice(form: &InvoiceForm, setup: &CompanySetup) -> Invoice {
    let mode = effective_mode(setup, form.tax_mode);
    let inclusive = is_inclusive(setup, form.tax_mode);
    let mut lines: Vec<Line> = Vec::with_capacity(form.lines.len() + 1);
    for l in &form.lines {
        let amount = invoice_line_amount(setup, form.tax_mode, l);
        lines.push(sales_line(l, amount, inclusive));
    }
    let totals = preview(form, setup);
    let base = discount_base(inclusive, totals.lines_total, totals.subtotal);
    if let Some((_, line)) = discount_line(&form.discounts, base) {
        lines.push(line);
    }
    Invoice {
        customer_ref: form.customer_id.as_ref().map(|c| Ref::new(c.clone())),
        currency_ref: Some(Ref::new(form.currency.clone())),
        txn_date: Some(form.txn_date),
        due_date: form.due_date,
        doc_number: form.doc_number.clone().filter(|_| setup.custom_txn_numbers),
        line: Some(lines),
        txn_tax_detail: txn_tax_detail(form, setup),
        global_tax_calculation: (!setup.us).then(|| mode.global_tax_calculation()),
        apply_tax_after_discount: (!form.discounts.is_empty() && !inclusive).then_some(true),
        bill_email: form.bill_email.as_ref().map(|e| EmailAddress {
            address: Some(e.trim().to_string()),
        }),
        customer_memo: form
            .customer_memo
            .as_ref()
            .filter(|m| !m.trim().is_empty())
            .map(|m| MemoRef { value: m.clone() }),
        private_note: private_note(form),
        custom_field: custom_fields(form, setup),
        ..Invoice::default()
    }
}

/// One sales line at `amount` (the line discount folded in).
fn sales_line(l: &FormLine, amount: Decimal, inclusive: bool) -> Line {
    let (qty, unit_price) = qty_and_price(l.quantity, amount);
    let description = line_description(l, qty);
    Line {
        id: None,
        line_num: None,
        description: Some(description.chars().take(4000).collect()),
        amount: Some(amount),
        detail_type: LineDetailType::SalesItemLineDetail,
        sales_item_line_detail: Some(SalesItemLineDetail {
            item_ref: l.item_id.as_ref().map(|id| Ref {
                value: id.clone(),
                name: l.item_name.clone(),
            }),
            qty: Some(qty),
            unit_price: Some(unit_price),
            tax_code_ref: l.tax_code.as_ref().map(|c| Ref::new(c.clone())),
            tax_inclusive_amt: inclusive.then_some(amount),
            ..SalesItemLineDetail::default()
        }),
        discount_line_detail: None,
        sub_total_line_detail: None,
        group_line_detail: None,
        description_line_detail: None,
        linked_txn: None,
    }
}

/// The name, the comment, the folded discount and — when the quantity had to change — the
/// original quantity × price.
fn line_description(l: &FormLine, qty: Decimal) -> String {
    let mut description = l.name.trim().to_string();
    if let Some(extra) = l.description.as_deref().filter(|d| !d.trim().is_empty()) {
        description.push_str(" — ");
        description.push_str(extra.trim());
    }
    match l.discount {
        Some(Discount::Percentage(p)) => {
            description.push_str(&format!(" (incl. {}% discount)", p.normalize()));
        }
        Some(Discount::Amount(a)) => {
            description.push_str(&format!(" (incl. {} discount)", format_money(a)));
        }
        None => {}
    }
    if qty != l.quantity.normalize() {
        description.push_str(&format!(
            " ({} × {})",
            l.quantity.normalize(),
            l.unit_price.normalize()
        ));
    }
    description
}

/// US: the rate group, when a line is taxable.
fn txn_tax_detail(form: &InvoiceForm, setup: &CompanySetup) -> Option<TxnTaxDetail> {
    if !setup.us {
        return None;
    }
    let taxed = form
        .lines
        .iter()
        .any(|l| l.tax_code.as_deref() == Some("TAX"));
    form.txn_tax_code
        .as_ref()
        .filter(|_| taxed)
        .map(|code| TxnTaxDetail {
            txn_tax_code_ref: Some(Ref::new(code.clone())),
            ..TxnTaxDetail::default()
        })
}

fn custom_fields(form: &InvoiceForm, setup: &CompanySetup) -> Option<Vec<CustomField>> {
    (!form.custom_fields.is_empty()).then(|| {
        form.custom_fields
            .iter()
            .map(|c| CustomField {
                definition_id: Some(c.definition_id.clone()),
                name: setup
                    .custom_fields
                    .iter()
                    .find(|d| d.definition_id == c.definition_id)
                    .map(|d| d.name.clone()),
                r#type: Some("StringType".into()),
                string_value: Some(c.value.clone()),
            })
            .collect()
    })
}
