//! Bulk invoicing from the deals list view (the `bulk` modal, opened with the selected deals):
//!
//! | route | what |
//! |---|---|
//! | `POST /api/bulk/readiness` | each deal's readiness: ready, or what blocks it with the fix (at most 25 deals a request) |
//! | `POST /api/bulk/batches` | records a batch of invoices or estimates under the page's UUID (the same id, document and deals again: the same batch) |
//! | `POST /api/bulk/batches/{batch_id}/run` | invoices (or estimates) the next page of pending deals, ≤ 10 at a time, stopping well before API Gateway's 30 s; answers the progress |
//! | `GET /api/bulk/batches/{batch_id}` | the progress and each deal's result (the invoice or estimate, or the sentence why not) |
//!
//! Exactly once per (batch, deal): each invoice or estimate is created under an idempotency key
//! derived from both ([`shared::domain::bulk::document_key`]), so a batch retried after a closed
//! tab or a timeout, or resumed after a failure, finds what it created. Scoped by the verified
//! JWT only: the deals are read with the caller's Pipedrive tokens, so an id of another company's
//! deal (or one the caller cannot see) is refused per deal with a sentence and never invoiced
//! (nor estimated). Throughput is the upstreams' own: the QuickBooks realm gate (10 in flight,
//! 500 a minute) and Pipedrive's `Retry-After`, never a fixed sleep.

pub mod run;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::app::App;
use shared::domain::DealId;
use shared::domain::bulk::{
    self, BatchDeal, BulkBatch, Document, MAX_BATCH, MAX_READINESS, Progress,
};
use shared::domain::readiness::{Blocker, not_invoiced_sentence};
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::web::http::{JsonBody, OptionalJsonBody, PathParams};

use crate::context::{Caller, caller};
use crate::unattended::ready_form;
use run::{Checked, read_draft};

/// Body of `POST /api/bulk/readiness`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessRequest {
    pub deal_ids: Vec<u64>,
}

/// One deal's readiness.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DealReadiness {
    pub deal_id: DealId,
    /// The deal's title (none when it was not read).
    pub title: Option<String>,
    pub ready: bool,
    /// "Ready to invoice." / "Ready to invoice — needs: …" / why it cannot be checked.
    pub sentence: String,
    /// What blocks it, each with its fix.
    pub blockers: Vec<Blocker>,
    pub customer_name: Option<String>,
    pub total: Option<Decimal>,
    pub currency: Option<String>,
    /// The deal is not one the caller can invoice (another company's, deleted, or not visible).
    pub refused: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReadinessAnswer {
    pub deals: Vec<DealReadiness>,
}

/// Body of `POST /api/bulk/batches`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub batch_id: String,
    pub deal_ids: Vec<u64>,
    /// What the run creates for each ready deal (an invoice unless asked).
    #[serde(default)]
    pub document: Document,
}

/// Body of `POST /api/bulk/batches/{batch_id}/run` (optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Check the blocked deals again (after the rep fixed what they needed).
    #[serde(default)]
    pub recheck_blocked: bool,
}

#[derive(Debug, Deserialize)]
pub struct BatchPath {
    pub batch_id: String,
}

/// A batch as the page shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchView {
    pub batch_id: String,
    pub document: Document,
    pub progress: Progress,
    pub deals: Vec<BatchDeal>,
}

impl BatchView {
    pub fn of(batch: &BulkBatch) -> Self {
        BatchView {
            batch_id: batch.batch_id.clone(),
            document: batch.document,
            progress: batch.progress(),
            deals: batch.deals.clone(),
        }
    }
}

fn field_error(field: &str, message: String) -> ApiError {
    ApiError::unprocessable(vec![FieldError::new(field, message)])
}

pub async fn readiness(
    State(app): State<App>,
    tenant: Tenant,
    JsonBody(request): JsonBody<ReadinessRequest>,
) -> Result<Json<ReadinessAnswer>, ApiError> {
    let deals =
        bulk::deal_ids(&request.deal_ids, MAX_READINESS).map_err(|m| field_error("deal_ids", m))?;
    let caller = caller(&app, tenant).await?;
    run::warm_setup(&app, &caller).await;
    let checked = run::each_deal(&deals, |deal| readiness_of(&app, &caller, deal)).await;
    Ok(Json(ReadinessAnswer { deals: checked }))
}

/// One deal's readiness (the rules' decision, [`ready_form`]).
async fn readiness_of(app: &App, caller: &Caller, deal: DealId) -> DealReadiness {
    let mut answer = DealReadiness {
        deal_id: deal,
        title: None,
        ready: false,
        sentence: String::new(),
        blockers: Vec::new(),
        customer_name: None,
        total: None,
        currency: None,
        refused: false,
    };
    let draft = match read_draft(app, caller, deal).await {
        Checked::Draft(draft) => draft,
        Checked::Refused(sentence) => {
            answer.sentence = sentence;
            answer.refused = true;
            return answer;
        }
        Checked::Failed(sentence) => {
            answer.sentence = sentence;
            return answer;
        }
    };
    let ready = ready_form(&draft);
    answer.ready = ready.blockers.is_empty();
    answer.sentence = if answer.ready {
        "Ready to invoice.".into()
    } else {
        not_invoiced_sentence(&ready.blockers).replacen("Not invoiced", "Not ready", 1)
    };
    answer.title = Some(draft.deal.title.clone());
    answer.customer_name = ready.matched.map(|c| c.display_name.clone()).or_else(|| {
        draft
            .customer
            .linked
            .as_ref()
            .map(|l| l.display_name.clone())
    });
    answer.total = Some(draft.totals.total);
    answer.currency = Some(ready.form.currency.clone());
    answer.blockers = ready.blockers;
    answer
}

pub async fn create_batch(
    State(app): State<App>,
    tenant: Tenant,
    JsonBody(request): JsonBody<BatchRequest>,
) -> Result<Response, ApiError> {
    let batch_id = bulk::batch_id(&request.batch_id).map_err(|m| field_error("batch_id", m))?;
    let deals =
        bulk::deal_ids(&request.deal_ids, MAX_BATCH).map_err(|m| field_error("deal_ids", m))?;
    let caller = caller(&app, tenant).await?;
    let fresh = BulkBatch::new(
        tenant.company_id,
        batch_id,
        tenant.user_id,
        &deals,
        app.clock.now(),
    )
    .for_document(request.document);
    match app.records.create_bulk_batch(&fresh).await? {
        Ok(batch) => Ok((StatusCode::CREATED, Json(BatchView::of(&batch))).into_response()),
        Err(existing)
            if existing.user_id == caller.tenant.user_id
                && existing.same_request(request.document, &deals) =>
        {
            Ok((StatusCode::OK, Json(BatchView::of(&existing))).into_response())
        }
        Err(existing)
            if existing.user_id == caller.tenant.user_id && existing.same_deals(&deals) =>
        {
            Err(field_error(
                "document",
                format!(
                    "This batch id was already used to create {} for these deals. Start a new batch to create {}.",
                    existing.document.plural(),
                    request.document.plural()
                ),
            ))
        }
        Err(_) => Err(field_error(
            "batch_id",
            "This batch id was already used for other deals. Start a new batch for this selection."
                .into(),
        )),
    }
}

/// The caller's batch (another user's or company's is not found).
async fn own_batch(app: &App, tenant: Tenant, raw_id: &str) -> Result<BulkBatch, ApiError> {
    let batch_id = bulk::batch_id(raw_id).map_err(ApiError::bad_request)?;
    app.records
        .get_bulk_batch(tenant.company_id, &batch_id)
        .await?
        .filter(|b| b.user_id == tenant.user_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "There is no batch {batch_id} of yours (batches are kept 7 days). Select the deals again to start one."
            ))
        })
}

pub async fn read_batch(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<BatchPath>,
) -> Result<Json<BatchView>, ApiError> {
    let batch = own_batch(&app, tenant, &path.batch_id).await?;
    Ok(Json(BatchView::of(&batch)))
}

pub async fn run_batch(
    State(app): State<App>,
    tenant: Tenant,
    PathParams(path): PathParams<BatchPath>,
    OptionalJsonBody(body): OptionalJsonBody<RunRequest>,
) -> Result<Json<BatchView>, ApiError> {
    let request = body.unwrap_or_default();
    let batch = own_batch(&app, tenant, &path.batch_id).await?;
    let caller = caller(&app, tenant).await?;
    let batch = run::run_page(&app, &caller, batch, request.recheck_blocked).await?;
    Ok(Json(BatchView::of(&batch)))
}
