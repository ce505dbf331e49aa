//! `POST /api/deals/{deal_id}/estimates/{estimate_id}/invoice`: an invoice made from an accepted
//! estimate of the deal (its customer, currency, tax and memo), in full or a part of it, exactly
//! once:
//!
//! 1. The `Idempotency-Key` is claimed first (the same key and body answer the same); the
//!    optional body ([`PartRequest`]: `part`, `confirm_over_invoice`) is in the key's hash.
//! 2. The estimate must be linked to this deal of the caller's company, in the realm connected
//!    now; QuickBooks' estimate is read and the domain decides
//!    ([`shared::domain::estimate_invoice::conversion_verdict`]): only an Accepted one, not one
//!    the app already invoiced to the end.
//! 3. The invoice is planned ([`crate::convert_part::planned`]): all of it with its own lines
//!    when nothing of it is billed and no part is asked; else the part (no part: the rest) of
//!    what the deal's live invoices — linked before the key was claimed — have not billed of it.
//! 4. An invoice that finishes the estimate (nothing left after it) carries the `LinkedTxn` to
//!    it and, before QuickBooks is called, the estimate's link records its `requestid` (derived
//!    from the key; a conditional write, so two requests never both start); any later request
//!    for the estimate sends that same `requestid`, and QuickBooks answers with the invoice it
//!    made. A part before it carries no link (the estimate stays Accepted) and sends the key's
//!    own `requestid`.
//! 5. The deal's invoice link (a conditional create a retry finds) recording the part and the
//!    estimate, note, activity and write-back, as for any created invoice
//!    ([`crate::create::finish_linked`]).
//! 6. The finishing invoice is recorded on the estimate's link (with its status as QuickBooks has
//!    it now: Closed); a part before it is told in the estimate's activity.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::app::App;
use shared::app::sync::estimates::estimate_event;
use shared::app::tokens::CallError;
use shared::clients::quickbooks::QuickBooksError;
use shared::domain::estimate_invoice::{
    ALL_OF_IT, ConversionVerdict, EstimatePart, conversion_verdict, converted_link, estimate_name,
};
use shared::domain::estimates::refreshed_estimate_link;
use shared::domain::links::today_in;
use shared::domain::progress::BillingPart;
use shared::domain::{DealId, EstimateLink, InvoiceLink, Outcome};
use shared::store::StoreError;
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, Refusal};
use shared::web::http::{OptionalJsonBody, PathParams};
use shared::wire::quickbooks::model::{Estimate, Invoice};

use crate::context::{Caller, caller, qb_error};
use crate::convert_part;
use crate::create::{
    CreatedInvoice, Failure, NoteOutcome, created_invoice, finish_linked, refused, settle_failure,
};
use crate::idempotency::{
    Claim, attempt_of, body_hash, claim, complete, derived_request_id, idempotency_key,
};

/// How many times a conditional write of the estimate's link is tried again after another
/// writer (the status sync) changed it in between.
const WRITE_TRIES: usize = 3;

/// The answer of the route (replayed verbatim for the same key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConvertedEstimate {
    pub invoice: CreatedInvoice,
    pub link: InvoiceLink,
    /// The invoice in the QuickBooks web app.
    pub open_url: String,
    /// The estimate's link now (the invoice recorded; Closed when QuickBooks closed it).
    pub estimate: EstimateLink,
    pub note: NoteOutcome,
    /// "Invoice #1042 created from estimate #1001."
    pub message: String,
}

/// The optional body: a part of the estimate (none: all of it, or the rest after parts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartRequest {
    /// The same `part` as the create form's: percentage, amount, lines (`index` among the
    /// estimate's sales lines), rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<BillingPart>,
    /// Bill it even though it is more than what is left of the estimate.
    #[serde(default)]
    pub confirm_over_invoice: bool,
}

pub async fn convert(
    State(app): State<App>,
    tenant: Tenant,
    PathParams((deal_id, raw_id)): PathParams<(u64, String)>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody<PartRequest>,
) -> Result<Response, ApiError> {
    let estimate_id = estimate_id(&raw_id)?;
    let caller = caller(&app, tenant).await?;
    let key = idempotency_key(&headers, true)?.unwrap_or_default();
    // Another company's (or another deal's) estimate is a 404 before any key is held.
    estimate_link(&app, &caller, deal_id, &estimate_id).await?;
    let asked = body.unwrap_or_default();
    let hash = if asked == PartRequest::default() {
        body_hash(&json!({"deal_id": deal_id, "invoice_from_estimate": estimate_id}))
    } else {
        body_hash(&json!({"deal_id": deal_id, "invoice_from_estimate": estimate_id, "body": asked}))
    };
    let record = match claim(&app.records, &app.clock, tenant.company_id, &key, &hash).await? {
        Claim::Replay(status, body) => return Ok((status, Json(body)).into_response()),
        Claim::Run(record) => record,
    };
    let attempt = attempt_of(&record);
    let request = Request {
        deal_id,
        estimate_id: &estimate_id,
        key: &key,
        attempt,
        asked: &asked,
        claimed_at: record.created_at,
    };
    match run(&app, &caller, &request).await {
        Ok(converted) => {
            let body = serde_json::to_value(&converted)
                .map_err(|e| ApiError::internal(format!("serialising the answer: {e}")))?;
            complete(&app.records, record, StatusCode::CREATED, &body).await;
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(failure) => {
            settle_failure(&app, record, attempt, &failure).await;
            Err(failure.error)
        }
    }
}

/// One request once its key is held.
pub struct Request<'a> {
    pub deal_id: u64,
    pub estimate_id: &'a str,
    pub key: &'a str,
    pub attempt: u32,
    pub asked: &'a PartRequest,
    /// When the key was first claimed: invoices linked since do not count as billed.
    pub claimed_at: DateTime<Utc>,
}

/// A QuickBooks estimate id: digits only.
fn estimate_id(raw: &str) -> Result<String, ApiError> {
    if !raw.is_empty() && raw.len() <= 20 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::bad_request(
            "The estimate id in the URL is not a QuickBooks estimate id (digits only).",
        ))
    }
}

/// The conversion once the key is held.
pub async fn run(
    app: &App,
    caller: &Caller,
    request: &Request<'_>,
) -> Result<ConvertedEstimate, Failure> {
    let now = app.clock.now();
    let (link, planned, request_id) = started(app, caller, request).await?;
    let mut created = create_in_quickbooks(app, caller, &link, &planned, &request_id).await?;
    let after_quickbooks = |error: ApiError| Failure {
        error,
        called_quickbooks: true,
        definitive: false,
    };
    if let Some(r) = created.customer_ref.as_mut()
        && r.name.is_none()
    {
        r.name = link.customer_name.clone();
    }
    let (invoice_link, open_url, note) = finish_linked(
        app,
        caller,
        request.deal_id,
        created,
        planned.record.clone(),
    )
    .await
    .map_err(after_quickbooks)?;
    let estimate_link = if planned.closes {
        mark_converted(app, caller, &link, &invoice_link, &planned.phrase, now)
            .await
            .map_err(after_quickbooks)?
    } else {
        convert_part::tell_part(app, caller, &link, &invoice_link, &planned.phrase, now).await;
        link
    };
    Ok(ConvertedEstimate {
        invoice: created_invoice(&invoice_link),
        message: converted_sentence(&estimate_link, &invoice_link, &planned.phrase),
        link: invoice_link,
        open_url,
        estimate: estimate_link,
        note,
    })
}

/// "Invoice #1042 created from estimate #1001." (with " (30 %)" for a part of it).
pub fn converted_sentence(estimate: &EstimateLink, invoice: &InvoiceLink, phrase: &str) -> String {
    let number = match &invoice.doc_number {
        Some(doc) => format!("#{doc}"),
        None => format!("(QuickBooks id {})", invoice.invoice_id),
    };
    let name = estimate_name(estimate);
    let mut from = name.chars();
    let from: String = from
        .next()
        .map(|c| c.to_lowercase().chain(from).collect())
        .unwrap_or_default();
    let part = match phrase {
        "" | ALL_OF_IT => String::new(),
        p => format!(" ({p})"),
    };
    format!("Invoice {number} created from {from}{part}.")
}

/// This deal's link to the estimate, in the realm connected now (404 otherwise).
async fn estimate_link(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    estimate_id: &str,
) -> Result<EstimateLink, ApiError> {
    let link = app
        .records
        .get_estimate_link(caller.tenant.company_id, DealId(deal_id), estimate_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "This estimate is not linked to deal {deal_id}. Reload the deal's estimates."
            ))
        })?;
    if link.realm_id != caller.realm_id {
        return Err(ApiError::refused(
            Refusal::OtherQuickBooksCompany,
            "This estimate belongs to another QuickBooks company than the one connected now, so it cannot be invoiced from Pipedrive.",
        ));
    }
    Ok(link)
}

/// QuickBooks' estimate now (`None`: it has none with this id).
async fn read_estimate(app: &App, caller: &Caller, id: &str) -> Result<Option<Estimate>, ApiError> {
    match app.quickbooks_of(&caller.profile).read_estimate(id).await {
        Ok(estimate) => Ok(Some(estimate)),
        Err(CallError::Call(QuickBooksError::Fault { fault, .. })) if fault.has_code("610") => {
            Ok(None)
        }
        Err(error) => Err(qb_error(error, "reading the estimate")),
    }
}

/// The estimate's link, the invoice planned for the request and its `requestid`; or why not.
/// An invoice that finishes the estimate (all of it, the rest) has its `requestid` recorded on
/// the estimate's link first (a new one, or the one an unfinished one recorded: any later
/// request finishes that one); a part before it uses the key's own.
async fn started(
    app: &App,
    caller: &Caller,
    request: &Request<'_>,
) -> Result<(EstimateLink, EstimatePart, String), Failure> {
    let today = today_in(&caller.profile.time_zone, app.clock.now());
    let own_request_id = derived_request_id(
        caller.tenant.company_id,
        "estimate-invoice",
        request.key,
        request.attempt,
    );
    for _ in 0..WRITE_TRIES {
        let link = estimate_link(app, caller, request.deal_id, request.estimate_id).await?;
        let current = read_estimate(app, caller, request.estimate_id).await?;
        let resume = match conversion_verdict(&link, current.as_ref(), today) {
            ConversionVerdict::Converted { invoice_id } => {
                return Err(already_converted(app, caller, &link, &invoice_id)
                    .await
                    .into());
            }
            ConversionVerdict::Refused(sentence) => {
                return Err(ApiError::refused(Refusal::EstimateState, sentence).into());
            }
            ConversionVerdict::Resume { request_id } => Some(request_id),
            ConversionVerdict::Start => None,
        };
        let Some(current) = current.filter(|e| !e.is_deleted()) else {
            return Err(ApiError::refused(
                Refusal::EstimateState,
                format!(
                    "{} was deleted in QuickBooks: there is nothing to invoice.",
                    estimate_name(&link)
                ),
            )
            .into());
        };
        // The same key finishes its own request as asked; another one finishes it as a request
        // without a part would.
        let own = resume.as_ref().is_none_or(|r| *r == own_request_id);
        let planned = convert_part::planned(app, caller, request, &link, &current, own, today)
            .await
            .map_err(Failure::from)?;
        if let Some(request_id) = resume {
            return Ok((link, planned, request_id));
        }
        if !planned.closes {
            return Ok((link, planned, own_request_id));
        }
        let mut next = link.clone();
        next.conversion_request_id = Some(own_request_id.clone());
        next.updated_at = app.clock.now();
        match app.records.save_estimate_link(&next).await {
            Ok(_) => return Ok((link, planned, own_request_id)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(ApiError::from(e).into()),
        }
    }
    Err(ApiError::refused(
        Refusal::InProgress,
        "This estimate changed while it was being invoiced (another request may be invoicing it). Reload the deal's estimates and try again.",
    )
    .into())
}

async fn already_converted(
    app: &App,
    caller: &Caller,
    link: &EstimateLink,
    invoice_id: &str,
) -> ApiError {
    let doc = app
        .records
        .get_invoice_link(caller.tenant.company_id, link.deal_id, invoice_id)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.doc_number);
    let invoice = match doc {
        Some(doc) => format!("invoice #{doc}"),
        None => format!("the invoice with QuickBooks id {invoice_id}"),
    };
    ApiError::refused(
        Refusal::EstimateState,
        format!(
            "{} was already invoiced: {invoice} was made from it and is on the deal's invoices.",
            estimate_name(link)
        ),
    )
}

/// The one QuickBooks call. A refusal is recorded on the deal; a definitive one (nothing was
/// made) frees the estimate for a new conversion with a new `requestid`.
async fn create_in_quickbooks(
    app: &App,
    caller: &Caller,
    link: &EstimateLink,
    planned: &EstimatePart,
    request_id: &str,
) -> Result<Invoice, Failure> {
    let error = match app
        .quickbooks_of(&caller.profile)
        .create_invoice(&planned.invoice, request_id)
        .await
    {
        Ok(invoice) => return Ok(invoice),
        Err(error) => error,
    };
    let what = (
        "creating the invoice from the estimate",
        "invoice.create_failed",
    );
    let failure = refused(app, caller, link.deal_id.0, error, what).await;
    if failure.definitive && planned.closes {
        release_request_id(app, link, request_id).await;
    }
    Err(failure)
}

/// QuickBooks made nothing for `request_id`: the estimate's link forgets it (if it still holds
/// it), so the next request starts anew. A failure leaves it: the next request sends it again
/// and QuickBooks answers the same refusal, then this runs again.
async fn release_request_id(app: &App, link: &EstimateLink, request_id: &str) {
    let released = async {
        let Some(mut current) = app
            .records
            .get_estimate_link(link.company_id, link.deal_id, &link.estimate_id)
            .await?
        else {
            return Ok(());
        };
        if current.conversion_request_id.as_deref() != Some(request_id) {
            return Ok(());
        }
        current.conversion_request_id = None;
        app.records.save_estimate_link(&current).await.map(|_| ())
    };
    if let Err(error) = released.await {
        tracing::warn!(%error, "could not free the estimate for a new conversion");
    }
}

/// The estimate's link with the invoice recorded, and brought up to date with QuickBooks'
/// estimate now (Closed by the invoice when QuickBooks closes it; a failed read leaves the
/// status to the sync). The first time, the estimate's activity says it was invoiced.
async fn mark_converted(
    app: &App,
    caller: &Caller,
    link: &EstimateLink,
    invoice: &InvoiceLink,
    phrase: &str,
    now: DateTime<Utc>,
) -> Result<EstimateLink, ApiError> {
    let today = today_in(&caller.profile.time_zone, now);
    let fresh = read_estimate(app, caller, &link.estimate_id)
        .await
        .ok()
        .flatten();
    for _ in 0..WRITE_TRIES {
        let current = app
            .records
            .get_estimate_link(link.company_id, link.deal_id, &link.estimate_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal("the estimate's link vanished during its conversion")
            })?;
        let refreshed = fresh
            .as_ref()
            .and_then(|e| refreshed_estimate_link(&current, e, today, now))
            .unwrap_or_else(|| current.clone());
        let next = converted_link(&refreshed, &invoice.invoice_id).unwrap_or(refreshed);
        if next == current {
            return Ok(current);
        }
        match app.records.save_estimate_link(&next).await {
            Ok(saved) => {
                if current.converted_invoice_id.is_none() {
                    let event = estimate_event(
                        &saved,
                        "estimate.converted",
                        Outcome::Succeeded,
                        converted_sentence(&saved, invoice, phrase),
                        now,
                        Some(caller.tenant.user_id),
                    );
                    if let Err(error) = app.records.append_activity(&event).await {
                        tracing::warn!(%error, "could not record the conversion");
                    }
                }
                return Ok(saved);
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "the estimate's link kept changing while its invoice was recorded",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_ids_are_digits() {
        assert_eq!(estimate_id("130").unwrap(), "130");
        for bad in ["", "13a", "1#2", "../1", "123456789012345678901", "-1"] {
            assert!(estimate_id(bad).is_err(), "{bad}");
        }
    }
}
