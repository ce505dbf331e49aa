//! "This deal already has open invoice #1001 for 3,974.25 EUR — create another?": before a create
//! reaches QuickBooks, an invoice of the deal that is still unpaid, for the same customer, in the
//! same currency and with the same total is reported (409 `possible-duplicate`, with that
//! invoice). The rep decides: the form sends `confirm_duplicate: true` and the invoice is created.
//! Never a block: a second invoice with the same amount is sometimes exactly what is wanted.
//! Not asked for a part of the deal (a deposit, a progress invoice): equal parts are normal, and
//! a part is checked against what is left to invoice instead ([`crate::parts`]).
//!
//! The stored links carry customer, currency, total and status (not the lines): a same-total
//! invoice for the same customer is what a rep would call "the same invoice".

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use shared::app::App;
use shared::domain::draft::{InvoiceForm, preview};
use shared::domain::money::NumberFormat;
use shared::domain::{InvoiceLink, InvoiceStatus};
use shared::web::error::{ApiError, Refusal};

use crate::context::{Caller, company_setup};

/// Statuses of an invoice that is still to be paid.
fn unpaid(status: InvoiceStatus) -> bool {
    matches!(
        status,
        InvoiceStatus::Open | InvoiceStatus::Overdue | InvoiceStatus::PartiallyPaid
    )
}

/// The deal's unpaid invoice like the one about to be created (newest first), if any. Only
/// invoices linked before `before` (when this request's `Idempotency-Key` was first claimed)
/// count: a retry of a create that reached QuickBooks finds its own invoice, not a duplicate.
pub fn find<'a>(
    links: &'a [InvoiceLink],
    customer_id: &str,
    currency: &str,
    total: Decimal,
    before: DateTime<Utc>,
) -> Option<&'a InvoiceLink> {
    links
        .iter()
        .filter(|l| unpaid(l.status) && l.created_at < before)
        .filter(|l| l.customer_id == customer_id && l.currency == currency && l.total == total)
        .max_by_key(|l| (l.txn_date, l.created_at))
}

/// The question the form shows (with the invoice, for the page).
pub fn question(existing: &InvoiceLink, format: &NumberFormat) -> ApiError {
    let number = existing
        .doc_number
        .as_deref()
        .map(|d| format!("#{d}"))
        .unwrap_or_else(|| format!("(QuickBooks id {})", existing.invoice_id));
    let state = match existing.status {
        InvoiceStatus::Overdue => "overdue",
        InvoiceStatus::PartiallyPaid => "partially paid",
        _ => "open",
    };
    ApiError::Refused {
        reason: Refusal::PossibleDuplicate,
        detail: format!(
            "This deal already has {state} invoice {number} for {} — create another?",
            format.money(existing.total, &existing.currency)
        ),
        current: Some(json!({"invoice": {
            "invoice_id": existing.invoice_id,
            "doc_number": existing.doc_number,
            "total": existing.total,
            "currency": existing.currency,
            "status": existing.status,
            "date": existing.txn_date,
        }})),
    }
}

/// The question to ask before creating `form` on the deal, if the deal has an invoice like it
/// (nothing when the rep already confirmed, or the form has no customer yet).
pub async fn check(
    app: &App,
    caller: &Caller,
    form: &InvoiceForm,
    links: &[InvoiceLink],
    claimed_at: DateTime<Utc>,
) -> Result<Option<ApiError>, ApiError> {
    // A part of the deal is checked against what is left instead (`crate::parts`).
    let Some(customer_id) = form
        .customer_id
        .as_deref()
        .filter(|_| !form.confirm_duplicate && form.part.is_none())
    else {
        return Ok(None);
    };
    if links.is_empty() {
        return Ok(None);
    }
    let total = preview(form, &company_setup(app, caller).await?).total;
    Ok(find(links, customer_id, &form.currency, total, claimed_at)
        .map(|existing| question(existing, &caller.number_format())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use rust_decimal_macros::dec;
    use shared::domain::{CompanyId, DealId};

    fn link(id: &str, status: InvoiceStatus, total: Decimal, customer: &str) -> InvoiceLink {
        InvoiceLink {
            company_id: CompanyId(1),
            deal_id: DealId(1),
            realm_id: "r".into(),
            invoice_id: id.into(),
            doc_number: Some(format!("10{id}")),
            currency: "EUR".into(),
            total,
            balance: total,
            txn_date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            due_date: None,
            status,
            customer_id: customer.into(),
            customer_name: None,
            email_sent: false,
            sync_token: None,
            qbo_updated_at: None,
            last_payment_date: None,
            billing: None,
            created_at: Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap(),
            version: 0,
        }
    }

    #[test]
    fn only_an_unpaid_invoice_with_the_same_customer_currency_and_total() {
        let links = vec![
            link("1", InvoiceStatus::Paid, dec!(3974.25), "7"),
            link("2", InvoiceStatus::Voided, dec!(3974.25), "7"),
            link("3", InvoiceStatus::Open, dec!(3974.24), "7"),
            link("4", InvoiceStatus::Open, dec!(3974.25), "8"),
        ];
        let later = Utc.with_ymd_and_hms(2025, 3, 2, 0, 0, 0).unwrap();
        assert_eq!(find(&links, "7", "EUR", dec!(3974.25), later), None);
        let mut with_open = links.clone();
        with_open.push(link("5", InvoiceStatus::Overdue, dec!(3974.25), "7"));
        assert_eq!(
            find(&with_open, "7", "EUR", dec!(3974.25), later).map(|l| l.invoice_id.as_str()),
            Some("5")
        );
        assert_eq!(find(&with_open, "7", "USD", dec!(3974.25), later), None);
        // Linked after this request's key was claimed: its own invoice (a retry), not a duplicate.
        let earlier = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
        assert_eq!(find(&with_open, "7", "EUR", dec!(3974.25), earlier), None);
        let asked = question(&with_open[4], &NumberFormat::english()).to_string();
        assert_eq!(
            asked,
            "This deal already has overdue invoice #105 for 3,974.25 EUR — create another?"
        );
    }
}
