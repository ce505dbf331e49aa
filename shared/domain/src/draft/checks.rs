//! The checks that need no QuickBooks call: every problem of the form at once, each naming what
//! to change.

use rust_decimal::Decimal;

use super::totals::effective_mode;
use super::{CompanySetup, Discount, FormLine, HUNDRED, InvoiceForm, TaxMode};
use crate::FieldError;

/// Checks the form against the company's setup and the customer's currency: everything that can
/// be known before calling QuickBooks. Every problem at once, each naming what to change.
pub fn validate(
    form: &InvoiceForm,
    setup: &CompanySetup,
    customer_currency: Option<&str>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_customer_and_currency(form, setup, customer_currency, &mut errors);
    check_lines(form, setup, &mut errors);
    check_discounts(form, &mut errors);
    if setup.us {
        check_us_sales_tax(form, setup, &mut errors);
    }
    check_doc_number(form, setup, &mut errors);
    check_custom_fields(form, setup, &mut errors);
    check_texts(form, &mut errors);
    errors
}

fn check_customer_and_currency(
    form: &InvoiceForm,
    setup: &CompanySetup,
    customer_currency: Option<&str>,
    errors: &mut Vec<FieldError>,
) {
    if form
        .customer_id
        .as_deref()
        .is_none_or(|c| c.trim().is_empty())
    {
        errors.push(FieldError::new(
            "customer_id",
            "Choose the QuickBooks customer for this invoice: link the deal's organization (or person) to an existing customer, or create one.",
        ));
    }
    if let Some(problem) = crate::conversion::check(form) {
        errors.push(problem);
    } else if let Err(message) = check_currency(form.currency.trim(), customer_currency, setup) {
        errors.push(FieldError::new("currency", message));
    }
}

fn check_lines(form: &InvoiceForm, setup: &CompanySetup, errors: &mut Vec<FieldError>) {
    if form.lines.is_empty() {
        errors.push(FieldError::new(
            "lines",
            "Add at least one line to the invoice.",
        ));
    }
    if form.lines.len() > 750 {
        errors.push(FieldError::new(
            "lines",
            "QuickBooks accepts at most 750 lines on an invoice.",
        ));
    }
    let mode = effective_mode(setup, form.tax_mode);
    for (i, line) in form.lines.iter().enumerate() {
        check_line(i, line, errors);
        check_line_tax_code(i, line, setup, mode, errors);
    }
}

fn check_line(i: usize, line: &FormLine, errors: &mut Vec<FieldError>) {
    let label = line_label(i, line);
    if line.item_id.as_deref().is_none_or(|s| s.trim().is_empty()) {
        errors.push(FieldError::new(
            format!("lines[{i}].item_id"),
            format!(
                "{label} is not linked to a QuickBooks product or service. Choose an item for it."
            ),
        ));
    }
    if line.quantity <= Decimal::ZERO {
        errors.push(FieldError::new(
            format!("lines[{i}].quantity"),
            format!("{label}: the quantity must be more than 0."),
        ));
    }
    if line.unit_price < Decimal::ZERO {
        errors.push(FieldError::new(
            format!("lines[{i}].unit_price"),
            format!("{label}: the price cannot be negative."),
        ));
    }
    if line.amount() < Decimal::ZERO {
        errors.push(FieldError::new(
            format!("lines[{i}].discount"),
            format!("{label}: the discount is larger than the line."),
        ));
    }
}

fn check_line_tax_code(
    i: usize,
    line: &FormLine,
    setup: &CompanySetup,
    mode: TaxMode,
    errors: &mut Vec<FieldError>,
) {
    let label = line_label(i, line);
    let message = match (&line.tax_code, setup.us) {
        (Some(code), true) if code != "TAX" && code != "NON" => {
            format!("{label}: US companies mark lines TAX or NON, not {code}.")
        }
        (None, true) => format!("{label}: mark the line taxable (TAX) or not (NON)."),
        (Some(code), false) if setup.tax_code(code).is_none_or(|c| !c.active) => format!(
            "{label}: {code} is not an active tax code in your QuickBooks company. Choose another."
        ),
        (None, false) if mode != TaxMode::None => format!(
            "{label} has no QuickBooks tax code (VAT rate). Choose one; QuickBooks needs a tax code on every line."
        ),
        _ => return,
    };
    errors.push(FieldError::new(format!("lines[{i}].tax_code"), message));
}

fn check_discounts(form: &InvoiceForm, errors: &mut Vec<FieldError>) {
    for (i, d) in form.discounts.iter().enumerate() {
        let negative = match d.discount {
            Discount::Percentage(p) => p < Decimal::ZERO || p > HUNDRED,
            Discount::Amount(a) => a < Decimal::ZERO,
        };
        if negative {
            errors.push(FieldError::new(
                format!("discounts[{i}]"),
                "A discount must be between 0 and 100 % or a positive amount.",
            ));
        }
    }
}

/// US: the transaction's rate group, needed when a line is taxable.
fn check_us_sales_tax(form: &InvoiceForm, setup: &CompanySetup, errors: &mut Vec<FieldError>) {
    let taxed = form
        .lines
        .iter()
        .any(|l| l.tax_code.as_deref() == Some("TAX"));
    match &form.txn_tax_code {
        Some(code) if setup.tax_code(code).is_none_or(|c| !c.group || !c.active) => {
            errors.push(FieldError::new(
                "txn_tax_code",
                format!("{code} is not a sales tax rate of your QuickBooks company. Choose one of its tax rates."),
            ));
        }
        None if taxed => errors.push(FieldError::new(
            "txn_tax_code",
            "Choose the sales tax rate for the taxable lines.",
        )),
        _ => {}
    }
}

fn check_doc_number(form: &InvoiceForm, setup: &CompanySetup, errors: &mut Vec<FieldError>) {
    let Some(doc) = &form.doc_number else {
        return;
    };
    if !setup.custom_txn_numbers {
        errors.push(FieldError::new(
            "doc_number",
            "QuickBooks numbers invoices itself in your company. Leave the invoice number empty, or turn on custom transaction numbers in QuickBooks (Settings › Account and settings › Sales).",
        ));
    } else if doc.trim().is_empty() || doc.chars().count() > 21 {
        errors.push(FieldError::new(
            "doc_number",
            "The invoice number must have 1 to 21 characters.",
        ));
    }
}

fn check_custom_fields(form: &InvoiceForm, setup: &CompanySetup, errors: &mut Vec<FieldError>) {
    for (i, c) in form.custom_fields.iter().enumerate() {
        if !setup
            .custom_fields
            .iter()
            .any(|d| d.definition_id == c.definition_id)
        {
            errors.push(FieldError::new(
                format!("custom_fields[{i}].definition_id"),
                "This custom field is not defined on your QuickBooks sales forms.",
            ));
        } else if c.value.chars().count() > 31 {
            errors.push(FieldError::new(
                format!("custom_fields[{i}].value"),
                "QuickBooks keeps at most 31 characters in a custom field.",
            ));
        }
    }
}

/// The memo, the note, the address and the due date.
fn check_texts(form: &InvoiceForm, errors: &mut Vec<FieldError>) {
    if let Some(memo) = &form.customer_memo
        && memo.chars().count() > 1000
    {
        errors.push(FieldError::new(
            "customer_memo",
            "The message to the customer can have at most 1000 characters.",
        ));
    }
    if let Some(note) = &form.private_note
        && note.chars().count() > 4000
    {
        errors.push(FieldError::new(
            "private_note",
            "The private note can have at most 4000 characters.",
        ));
    }
    if let Some(email) = &form.bill_email
        && !crate::mapping::is_plausible_email(email)
    {
        errors.push(FieldError::new(
            "bill_email",
            format!("{email} is not an email address QuickBooks accepts."),
        ));
    }
    if let Some(due) = form.due_date
        && due < form.txn_date
    {
        errors.push(FieldError::new(
            "due_date",
            "The due date cannot be before the invoice date.",
        ));
    }
}

fn line_label(i: usize, line: &FormLine) -> String {
    if line.name.trim().is_empty() {
        format!("Line {}", i + 1)
    } else {
        format!("Line {} \"{}\"", i + 1, line.name.trim())
    }
}
/// The currency rules, with what to change in QuickBooks.
pub fn check_currency(
    currency: &str,
    customer_currency: Option<&str>,
    setup: &CompanySetup,
) -> Result<(), String> {
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "{currency:?} is not a currency code (use ISO codes such as EUR or USD)."
        ));
    }
    let home = setup.home_currency.as_str();
    if currency != home && !setup.multi_currency {
        return Err(format!(
            "The deal is in {currency}, but your QuickBooks company works only in {home} (multi-currency is off). Turn on multi-currency in QuickBooks (Settings › Account and settings › Advanced › Currency) and add {currency}, or change the deal's currency to {home}."
        ));
    }
    if !setup.currency_enabled(currency) {
        return Err(format!(
            "{currency} is not in your QuickBooks currency list. Add it in QuickBooks (Settings › Currencies), then try again."
        ));
    }
    if let Some(customer) = customer_currency
        && customer != currency
    {
        return Err(format!(
            "The QuickBooks customer uses {customer}, but the invoice is in {currency}. QuickBooks invoices must be in the customer's currency: link the deal to a customer in {currency} (create one, e.g. with \"({currency})\" in its name), or change the deal's currency to {customer}."
        ));
    }
    Ok(())
}
