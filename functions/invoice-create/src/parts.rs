//! Deposits and progress invoices on the create path: what the deal's invoices already bill (its
//! links, read once by the create), the part planned from it by the domain
//! ([`shared::domain::progress`]), and its refusals as problems the page shows.
//!
//! Every create reads the deal's links once: a part is planned from what they bill, and a
//! create of the whole deal where parts are invoiced already is an over-invoice (refused unless
//! confirmed). Links made after this request's `Idempotency-Key` was first
//! claimed do not count, so a retry after a crash plans the very same invoice again (and
//! QuickBooks' `requestid` answers it with the invoice it made the first time).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use shared::domain::InvoiceLink;
use shared::domain::draft::{CompanySetup, InvoiceForm, Totals};
use shared::domain::progress::{
    Billed, BillingProgress, BillingRecord, PartKind, PartRefusal, PlannedPart, plan, value_of,
};
use shared::web::error::{ApiError, Refusal};

use crate::context::Caller;

/// The deal's billing in `currency` for a deal now worth `value`, from its links.
pub fn progress_in(links: &[InvoiceLink], currency: &str, value: Decimal) -> BillingProgress {
    let billed: Vec<Billed> = links.iter().map(Billed::from).collect();
    BillingProgress::of(currency, value, &billed)
}

/// The deal's progress as the draft shows it: in the form's currency, the deal worth what the
/// form bills in all.
pub fn draft_progress(links: &[InvoiceLink], currency: &str, totals: &Totals) -> BillingProgress {
    progress_in(links, currency, value_of(totals))
}

/// The invoice to create for `form` (its part of the deal, or all of it).
pub fn planned(
    caller: &Caller,
    form: &InvoiceForm,
    setup: &CompanySetup,
    links: &[InvoiceLink],
    claimed_at: DateTime<Utc>,
) -> Result<PlannedPart, ApiError> {
    // Every link counts, for a whole-deal invoice too: on top of parts it is an over-invoice.
    let before: Vec<InvoiceLink> = links
        .iter()
        .filter(|l| l.created_at < claimed_at)
        .cloned()
        .collect();
    let billed = progress_in(&before, &form.currency, Decimal::ZERO);
    plan(form, setup, &billed, &caller.number_format()).map_err(|r| refusal(r, &form.currency))
}

/// A part refused by the domain as the problem the page shows (422 for a wrong part, 409 with
/// what is left for an over-invoice).
pub fn refusal(refusal: PartRefusal, currency: &str) -> ApiError {
    match refusal {
        PartRefusal::Invalid(error) => ApiError::unprocessable(vec![error]),
        PartRefusal::OverInvoice { detail, left } => ApiError::Refused {
            reason: Refusal::OverInvoice,
            detail,
            current: Some(json!({"left": left, "currency": currency})),
        },
    }
}

/// How the activity line and the deal's note name the part: " (30 % of the deal)", " (30 % of
/// the estimate)" for a part of an estimate.
pub fn part_phrase(record: Option<&BillingRecord>) -> String {
    let Some(record) = record else {
        return String::new();
    };
    let of = if record.estimate_id.is_some() {
        "the estimate"
    } else {
        "the deal"
    };
    match (record.kind, record.percent) {
        (PartKind::Full, _) => String::new(),
        (PartKind::Percentage, Some(p)) => format!(" ({} % of {of})", p.normalize()),
        (PartKind::Percentage | PartKind::Amount, _) => format!(" (part of {of})"),
        (PartKind::Lines, _) => format!(" (chosen lines of {of})"),
        (PartKind::Rest, _) => format!(" (the rest of {of})"),
    }
}
