//! `POST /api/deals/{deal_id}/estimates`: a QuickBooks estimate from the deal, from the same
//! draft and checks as an invoice ([`crate::create::prepared`]: customer, lines, discounts,
//! US/non-US tax, currency), exactly once like an invoice (the `Idempotency-Key` claimed first,
//! a QuickBooks `requestid` derived from it, the link a conditional create a retry finds). The
//! expiration date is the estimate's date plus the company's setting (`estimate_expiry_days`,
//! 30 by default); the form's customer memo goes on the estimate. The deal gets a note and an
//! activity event.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::app::App;
use shared::app::sync::estimates::estimate_event;
use shared::domain::draft::{InvoiceForm, Totals};
use shared::domain::estimates::{
    estimate_label, expiration_date, link_from_estimate, part_refusal,
};
use shared::domain::links::today_in;
use shared::domain::money::NumberFormat;
use shared::domain::{DealId, EstimateLink, Outcome};
use shared::web::auth::Tenant;
use shared::web::error::ApiError;
use shared::web::http::{JsonBody, PathParams};
use shared::wire::pipedrive::model::NewNote;
use shared::wire::quickbooks::model::{Estimate, MemoRef};

use crate::context::{Caller, caller};
use crate::create::{Failure, NoteOutcome, created_or_found, prepared, refused, settle_failure};
use crate::deal_note::escape_html;
use crate::draft::DealPath;
use crate::idempotency::{
    Claim, attempt_of, body_hash, claim, complete, derived_request_id, idempotency_key,
};

/// The answer of the create route (replayed verbatim for the same key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedEstimate {
    pub estimate: EstimateLink,
    /// The estimate in the QuickBooks web app.
    pub open_url: String,
    /// What the app computed before calling QuickBooks (equals QuickBooks' total).
    pub preview: Totals,
    pub note: NoteOutcome,
}

pub async fn create(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<DealPath>,
    headers: HeaderMap,
    JsonBody(form): JsonBody<InvoiceForm>,
) -> Result<Response, ApiError> {
    let caller = caller(&app, tenant).await?;
    let key = idempotency_key(&headers, true)?.unwrap_or_default();
    // Not the invoice's hash: a key reused for another kind of document is refused, not replayed.
    let hash = body_hash(&json!({"deal_id": path.deal_id, "estimate": form}));
    let (status, body) = create_claimed(&app, &caller, path.deal_id, &form, &key, &hash)
        .await
        .map_err(|failure| failure.error)?;
    Ok((status, Json(body)).into_response())
}

/// The estimate created once under `key` — the route's core, and a rule's
/// ([`crate::unattended::estimate_once`]): the key claimed (`hash`: what asked for it; the same
/// key for another request is refused), the create run, its answer kept for a retry; a key that
/// ran before answers what it answered then.
pub async fn create_claimed(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
    key: &str,
    hash: &str,
) -> Result<(StatusCode, Value), Failure> {
    let record = match claim(
        &app.records,
        &app.clock,
        caller.tenant.company_id,
        key,
        hash,
    )
    .await?
    {
        Claim::Replay(status, body) => return Ok((status, body)),
        Claim::Run(record) => record,
    };
    let attempt = attempt_of(&record);
    let created = run(app, caller, deal_id, form, key, attempt).await;
    let answered = created.and_then(|created| {
        serde_json::to_value(&created).map_err(|e| Failure {
            error: ApiError::internal(format!("serialising the answer: {e}")),
            called_quickbooks: true,
            definitive: false,
        })
    });
    match answered {
        Ok(body) => {
            complete(&app.records, record, StatusCode::CREATED, &body).await;
            Ok((StatusCode::CREATED, body))
        }
        Err(failure) => {
            settle_failure(app, record, attempt, &failure).await;
            Err(failure)
        }
    }
}

/// The create after the key is held.
pub async fn run(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    form: &InvoiceForm,
    key: &str,
    attempt: u32,
) -> Result<CreatedEstimate, Failure> {
    if let Some(refused) = part_refusal(form) {
        return Err(ApiError::unprocessable(vec![refused]).into());
    }
    let (customer, invoice, totals) = prepared(app, caller, deal_id, form).await?;
    let days = caller.profile.settings.estimate_days();
    let mut estimate = Estimate::from_invoice(invoice, Some(expiration_date(form.txn_date, days)));
    if let Some(memo) = form
        .customer_memo
        .as_deref()
        .filter(|m| !m.trim().is_empty())
    {
        estimate.sale.customer_memo = Some(MemoRef {
            value: memo.trim().to_string(),
        });
    }
    let request_id = derived_request_id(caller.tenant.company_id, "estimate", key, attempt);
    let mut created = create_in_quickbooks(app, caller, deal_id, &estimate, &request_id).await?;
    if let Some(r) = created.sale.customer_ref.as_mut()
        && r.name.is_none()
    {
        r.name = Some(customer.display_name.clone());
    }
    finish(app, caller, deal_id, created, totals)
        .await
        .map_err(|error| Failure {
            error,
            called_quickbooks: true,
            definitive: false,
        })
}

async fn create_in_quickbooks(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    estimate: &Estimate,
    request_id: &str,
) -> Result<Estimate, Failure> {
    match app
        .quickbooks_of(&caller.profile)
        .create_estimate(estimate, request_id)
        .await
    {
        Ok(created) => Ok(created),
        Err(error) => Err(refused(
            app,
            caller,
            deal_id,
            error,
            ("creating the estimate", "estimate.create_failed"),
        )
        .await),
    }
}

/// Link, note and activity for an estimate QuickBooks created (a retry lands here again with
/// the same estimate and finishes what is missing).
async fn finish(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    estimate: Estimate,
    totals: Totals,
) -> Result<CreatedEstimate, ApiError> {
    let (link, first_time) = store_link(app, caller, deal_id, &estimate).await?;
    let open_url = app.quickbooks.endpoints().estimate_url(&link.estimate_id);
    let told = !first_time
        && app
            .records
            .deal_activity(caller.tenant.company_id, DealId(deal_id), 50)
            .await?
            .iter()
            .any(|e| {
                e.kind == "estimate.created"
                    && e.invoice_id.as_deref() == Some(link.estimate_id.as_str())
            });
    let note = if told {
        NoteOutcome {
            posted: true,
            error: None,
        }
    } else {
        tell(app, caller, &link, &open_url).await
    };
    Ok(CreatedEstimate {
        estimate: link,
        open_url,
        preview: totals,
        note,
    })
}

async fn store_link(
    app: &App,
    caller: &Caller,
    deal_id: u64,
    estimate: &Estimate,
) -> Result<(EstimateLink, bool), ApiError> {
    let company = caller.tenant.company_id;
    let now = app.clock.now();
    let today = today_in(&caller.profile.time_zone, now);
    let fresh = link_from_estimate(
        company,
        DealId(deal_id),
        &caller.realm_id,
        estimate,
        today,
        now,
    )
    .map_err(|e| ApiError::internal(format!("QuickBooks' created estimate: {e}")))?;
    created_or_found(app.records.create_estimate_link(&fresh).await, || {
        app.records
            .get_estimate_link(company, DealId(deal_id), &fresh.estimate_id)
    })
    .await
}

/// "QuickBooks estimate #1001 created, 1,250.00 EUR, expires 20 March".
pub fn created_sentence(link: &EstimateLink, format: &NumberFormat) -> String {
    let mut s = format!(
        "QuickBooks {} created, {}",
        estimate_label(link),
        format.money(link.total, &link.currency)
    );
    if let Some(expires) = link.expiration_date {
        s.push_str(&format!(", expires {}", expires.format("%-d %B")));
    }
    s
}

/// The deal's note and the activity event, together; a note Pipedrive refused is recorded.
async fn tell(app: &App, caller: &Caller, link: &EstimateLink, open_url: &str) -> NoteOutcome {
    let sentence = created_sentence(link, &caller.number_format());
    let now = app.clock.now();
    let user = Some(caller.tenant.user_id);
    let event = estimate_event(
        link,
        "estimate.created",
        Outcome::Succeeded,
        sentence.clone(),
        now,
        user,
    );
    let note = NewNote {
        content: format!(
            "<p>{}. <a href=\"{}\">Open in QuickBooks</a></p>",
            escape_html(&sentence),
            escape_html(open_url)
        ),
        deal_id: Some(link.deal_id.0),
        ..NewNote::default()
    };
    let (note, event) = futures::join!(
        app.pipedrive_of(caller.tenant).add_note(&note),
        app.records.append_activity(&event)
    );
    if let Err(error) = event {
        tracing::warn!(%error, "could not record the activity event");
    }
    let Err(error) = note else {
        return NoteOutcome {
            posted: true,
            error: None,
        };
    };
    let error = error.to_string();
    let failed = estimate_event(
        link,
        "note.failed",
        Outcome::Failed,
        format!(
            "The note about {} could not be added to the deal: {error}",
            estimate_label(link)
        ),
        now,
        user,
    );
    if let Err(e) = app.records.append_activity(&failed).await {
        tracing::warn!(error = %e, "could not record the note failure");
    }
    NoteOutcome {
        posted: false,
        error: Some(error),
    }
}
