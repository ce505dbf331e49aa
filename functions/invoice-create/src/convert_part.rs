//! An accepted estimate invoiced in parts, on the convert route ([`crate::convert`]): what the
//! deal's invoices already bill of the estimate (from the store), the invoice planned from it by
//! the domain ([`shared::domain::estimate_invoice::plan_estimate_part`]), and the estimate's
//! activity line for a part that does not finish it.
//!
//! As for a part of a deal ([`crate::parts`]), links made after this request's
//! `Idempotency-Key` was first claimed do not count, so a retry after a crash plans the very same
//! invoice again (and QuickBooks' `requestid` answers it with the invoice it made).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use shared::app::App;
use shared::app::sync::estimates::estimate_event;
use shared::domain::estimate_invoice::{
    EstimatePart, billing_of, estimate_name, estimate_progress, invoice_from_estimate,
    plan_estimate_part,
};
use shared::domain::progress::{Billed, BillingPart};
use shared::domain::{EstimateLink, InvoiceLink, Outcome};
use shared::web::error::ApiError;
use shared::wire::quickbooks::model::Estimate;

use crate::context::Caller;
use crate::convert::{Request, converted_sentence};
use crate::parts::refusal;

/// The invoice for `request` on `estimate` (QuickBooks' now). `own`: the request makes its own
/// invoice (its part as asked); otherwise it finishes an unfinished invoice that finishes the
/// estimate (the rest, or all of it), whose `requestid` QuickBooks answers with what it made.
pub async fn planned(
    app: &App,
    caller: &Caller,
    request: &Request<'_>,
    link: &EstimateLink,
    estimate: &Estimate,
    own: bool,
    today: NaiveDate,
) -> Result<EstimatePart, ApiError> {
    let links = app
        .records
        .all_deal_invoice_links(caller.tenant.company_id, link.deal_id)
        .await?;
    let before: Vec<Billed> = links
        .iter()
        .filter(|l| l.created_at < request.claimed_at)
        .map(Billed::from)
        .collect();
    let billed = estimate_progress(&link.estimate_id, &link.currency, Decimal::ZERO, &before);
    let (part, confirm): (Option<&BillingPart>, bool) = if own {
        (
            request.asked.part.as_ref(),
            request.asked.confirm_over_invoice,
        )
    } else {
        (None, true)
    };
    let name = estimate_name(link);
    let format = caller.number_format();
    match plan_estimate_part(estimate, &name, part, confirm, &billed, today, &format) {
        Ok(planned) => Ok(planned),
        // Finishing another request's invoice whose link is written already (the crash came
        // after it): QuickBooks answers its `requestid` with that invoice, and the link found
        // keeps what it records.
        Err(_) if !own => Ok(EstimatePart {
            invoice: invoice_from_estimate(estimate, today)
                .map_err(|e| ApiError::internal(format!("QuickBooks' estimate: {e}")))?,
            record: billing_of(estimate),
            closes: true,
            phrase: String::new(),
        }),
        Err(r) => Err(refusal(r, &link.currency)),
    }
}

/// The estimate's activity line for a part that leaves some of it to invoice ("Invoice #1005
/// created from estimate #1001 (30 %)."), once: a retry finds it.
pub async fn tell_part(
    app: &App,
    caller: &Caller,
    link: &EstimateLink,
    invoice: &InvoiceLink,
    phrase: &str,
    now: DateTime<Utc>,
) {
    let sentence = converted_sentence(link, invoice, phrase);
    let told = app
        .records
        .deal_activity(caller.tenant.company_id, link.deal_id, 50)
        .await
        .map(|log| {
            log.iter()
                .any(|e| e.kind == "estimate.part_invoiced" && e.message == sentence)
        })
        .unwrap_or(false);
    if told {
        return;
    }
    let event = estimate_event(
        link,
        "estimate.part_invoiced",
        Outcome::Succeeded,
        sentence,
        now,
        Some(caller.tenant.user_id),
    );
    if let Err(error) = app.records.append_activity(&event).await {
        tracing::warn!(%error, "could not record the part invoiced");
    }
}
