//! `POST /api/deals/{deal_id}/prepared-invoice`: the one click in the deal's panel that creates
//! the invoice a "prepare an invoice for review" rule got ready.
//!
//! The panel sends the preparation's own key ([`PreparedInvoice::key`], in the deal's list
//! answer) as the `Idempotency-Key`, so the preparation is created at most once however often
//! the click is retried; the key is held before anything else, so a retry after the invoice
//! exists replays the first answer. The invoice is built from the deal as it is now (the same
//! draft and readiness the rule used), must still have the total the panel showed, and goes
//! through the create route's own core ([`crate::create::create_claimed`]); the create clears
//! the preparation. When the deal is not ready any more, the answer says what it needs and the
//! rep reviews the invoice in the create form instead.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::app::App;
use shared::domain::DealId;
use shared::domain::draft::InvoiceForm;
use shared::domain::readiness::needs_sentence;
use shared::domain::rules::PreparedInvoice;
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::PathParams;

use crate::context::{Caller, caller};
use crate::create::create_claimed;
use crate::draft::{DealPath, build};
use crate::idempotency::{Claim, body_hash, claim, forget, idempotency_key};
use crate::unattended::{link_match, ready_form};

pub async fn create_prepared(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<DealPath>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&app, tenant).await?;
    let key = idempotency_key(&headers, true)?.unwrap_or_default();
    let hash = body_hash(&json!({"deal_id": path.deal_id, "prepared": key}));
    let record = match claim(&app.records, &app.clock, tenant.company_id, &key, &hash).await? {
        Claim::Replay(status, body) => return Ok((status, Json(body)).into_response()),
        Claim::Run(record) => record,
    };
    match prepared_form(&app, &caller, DealId(path.deal_id), &key).await {
        Ok(form) => create_claimed(&app, &caller, path.deal_id, &form, &key, record).await,
        Err(error) => {
            // Nothing was sent to QuickBooks: the key is free for the next click.
            forget(&app.records, &record).await;
            Err(error)
        }
    }
}

/// The form of the deal's preparation that `key` names, built from the deal as it is now and
/// held to the total the panel showed.
async fn prepared_form(
    app: &App,
    caller: &Caller,
    deal: DealId,
    key: &str,
) -> Result<InvoiceForm, ApiError> {
    let prepared = app
        .records
        .get_prepared_invoice(caller.tenant.company_id, deal)
        .await?;
    let prepared = current(prepared, key)?;
    let draft = build(app, caller, deal.0).await?;
    let ready = ready_form(&draft);
    if !ready.blockers.is_empty() {
        return Err(ApiError::unprocessable(vec![FieldError::new(
            "prepared",
            format!(
                "{} Review the invoice in the form to finish it.",
                needs_sentence(&ready.blockers)
            ),
        )]));
    }
    // The one matching customer linked first (a link another deal made at the same moment is
    // the same link).
    link_match(app, caller, &draft, &ready)
        .await
        .map_err(ApiError::internal)?;
    let mut form = ready.form;
    // The rep clicked on this total: a deal changed since is reviewed in the form instead.
    form.expected_total = Some(prepared.total);
    Ok(form)
}

/// The preparation the panel showed, while it is still the deal's.
fn current(prepared: Option<PreparedInvoice>, key: &str) -> Result<PreparedInvoice, ApiError> {
    match prepared {
        Some(p) if p.key() == key => Ok(p),
        Some(_) => Err(ApiError::Conflict {
            detail: "A newer invoice was prepared for this deal since the panel showed this one: review the new one.".into(),
            current: None,
        }),
        None => Err(ApiError::not_found(
            "No invoice is prepared for this deal any more (it was created, or the deal was invoiced another way).",
        )),
    }
}
