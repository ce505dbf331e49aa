//! The `quickbooks-webhook` function: QuickBooks' change notifications, verified, turned into
//! targeted status updates.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `POST /webhooks/quickbooks` | `intuit-signature` (base64 HMAC-SHA256 of the raw body, key = the app's verifier token) | re-read the changed invoices (and the invoices changed payments apply to) and update the links to them |
//!
//! 1. The signature is checked against the raw bytes, in constant time, **before** anything is
//!    parsed; a missing, forged or altered signature is a 401 problem and nothing changes.
//! 2. A genuine delivery received before (same bytes, remembered for 7 days by its SHA-256) is a
//!    redelivery (Intuit retries what it did not see answered) or a replay: acknowledged with 200
//!    (`redelivered: true`) so that Intuit stops, and nothing is applied again. The memory is a
//!    conditional create, so of two copies racing each other one applies the changes. If the work
//!    then fails with a 500, the delivery is forgotten again so that Intuit's next redelivery is
//!    applied.
//! 3. The body may be the legacy `{"eventNotifications":[…]}` or the CloudEvents array
//!    ([`shared::wire::quickbooks::webhook`]). Only `Invoice`, `Payment` and `Estimate` events
//!    matter (estimates: [`shared::app::sync::estimates::apply_estimate_changes`]); the rest are
//!    acknowledged and ignored, as are realms and invoices no company links (no call is made).
//! 4. Per realm, [`shared::app::sync::targeted::apply_changes`] re-reads only what changed and applies
//!    it through the one update path ([`shared::app::sync::apply_invoices`]), which ignores data older
//!    than a link already reflects (QuickBooks `LastUpdatedTime`), so duplicate and out-of-order
//!    deliveries leave the newest state.
//! 5. Intuit wants a 200 within 3 s. The work gets [`WORK_BUDGET`]; a realm whose update does not
//!    finish in time, or fails in a retryable way (QuickBooks throttling, 5xx), is handed to the
//!    sync queue as a targeted [`Job::Changes`] (idempotent) and the answer is still 200. Only if
//!    the queue itself refuses does the answer become a 500, so Intuit delivers again.
//!
//! The answer (`WebhookReceipt`) says how many changes were read, how many links were updated
//! and how many realms were queued.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use shared::app::App;
use shared::app::sync::changes::SyncError;
use shared::app::sync::estimates::apply_estimate_changes;
use shared::app::sync::jobs::{Job, JobQueue, local_queue};
use shared::app::sync::targeted::apply_changes;
use shared::domain::CompanyId;
use shared::web::error::ApiError;
use shared::web::http::Route;
use shared::wire::quickbooks::webhook::{SIGNATURE_HEADER, delivery_digest, parse_changes, verify};

/// Every route this function serves (checked against template.yaml and the OpenAPI description).
pub const ROUTES: &[Route] = &[Route::new("POST", "/webhooks/quickbooks")];

/// Time the handler spends updating links before it hands the rest to the queue (Intuit retries
/// deliveries that take longer than 3 s).
pub const WORK_BUDGET: Duration = Duration::from_millis(2000);

/// Largest webhook body accepted (Intuit sets no limit; a batch of thousands of events fits).
pub const MAX_WEBHOOK_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct WebhookState {
    app: App,
    queue: Arc<dyn JobQueue>,
    budget: Duration,
}

/// The route with the process' in-process queue (the local server; its `POST /_local/sync`
/// delivers what the webhook queued).
pub fn router(app: App) -> Router {
    router_with(app, Arc::new(local_queue().clone()), WORK_BUDGET)
}

/// The route with a given queue and work budget (Lambda: SQS; tests: in-process).
pub fn router_with(app: App, queue: Arc<dyn JobQueue>, budget: Duration) -> Router {
    Router::new()
        .route(ROUTES[0].path, post(receive))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BYTES))
        .with_state(WebhookState { app, queue, budget })
}

/// What a delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookReceipt {
    /// Entity changes in the payload (all entities).
    pub changes: usize,
    /// Invoice and estimate links written.
    pub updated: usize,
    /// Realms handed to the sync queue.
    pub queued: usize,
    /// This exact delivery was received before (Intuit redelivers what it did not see
    /// answered): answered as received, nothing applied again. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redelivered: bool,
}

/// Invoice and payment ids per realm.
#[derive(Default)]
struct RealmChanges {
    invoices: BTreeSet<String>,
    payments: BTreeSet<String>,
    estimates: BTreeSet<String>,
}

async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let started = Instant::now();
    let Some(signature) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::Unauthorized(
            "The intuit-signature header is missing.".into(),
        ));
    };
    if !verify(
        state.app.credentials.quickbooks_webhook_verifier.expose(),
        &body,
        signature,
    ) {
        tracing::warn!(bytes = body.len(), "webhook with a bad signature refused");
        return Err(ApiError::Unauthorized(
            "The intuit-signature header does not match the body.".into(),
        ));
    }
    let changes = parse_changes(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "The body is neither a legacy nor a CloudEvents QuickBooks webhook payload: {e}"
        ))
    })?;
    let digest = delivery_digest(&body);
    let records = &state.app.records;
    if !records
        .record_webhook_delivery(&digest, state.app.clock.now())
        .await?
    {
        // Intuit retries a delivery it did not see answered; the copy is acknowledged so that
        // it stops, and never applied twice (a replay by anyone else changes nothing either).
        tracing::info!(digest = %digest, "webhook delivery received before: acknowledged, not applied again");
        return Ok(Json(WebhookReceipt {
            changes: changes.len(),
            redelivered: true,
            ..WebhookReceipt::default()
        }));
    }
    let outcome = process(&state, started, &changes).await;
    if outcome.is_err()
        && let Err(error) = records.forget_webhook_delivery(&digest).await
    {
        tracing::error!(%error, "a failed webhook delivery could not be forgotten");
    }
    outcome.map(Json)
}

/// Applies the changes of one verified, new delivery.
async fn process(
    state: &WebhookState,
    started: Instant,
    changes: &[shared::wire::quickbooks::webhook::EntityChange],
) -> Result<WebhookReceipt, ApiError> {
    let mut realms: BTreeMap<String, RealmChanges> = BTreeMap::new();
    for change in changes {
        let target = realms.entry(change.realm_id.clone()).or_default();
        match change.entity.as_str() {
            "Invoice" => {
                target.invoices.insert(change.entity_id.clone());
            }
            "Payment" => {
                target.payments.insert(change.entity_id.clone());
            }
            "Estimate" => {
                target.estimates.insert(change.entity_id.clone());
            }
            _ => {}
        }
    }
    let mut receipt = WebhookReceipt {
        changes: changes.len(),
        ..WebhookReceipt::default()
    };
    for (realm, wanted) in realms {
        let now = state.app.clock.now();
        if !wanted.estimates.is_empty() {
            let work = async {
                let outcome =
                    apply_estimate_changes(&state.app, &realm, &wanted.estimates, now).await?;
                Ok((outcome.changed, first_failure(&outcome.failures)))
            };
            let job = Job::Estimates {
                realm_id: realm.clone(),
                estimate_ids: wanted.estimates.iter().cloned().collect(),
            };
            receipt.queued +=
                apply_or_queue(state, started, &realm, work, job, &mut receipt.updated).await?;
        }
        if wanted.invoices.is_empty() && wanted.payments.is_empty() {
            continue;
        }
        let work = async {
            let outcome =
                apply_changes(&state.app, &realm, &wanted.invoices, &wanted.payments, now).await?;
            Ok((outcome.applied.changed, first_failure(&outcome.failures)))
        };
        let job = Job::Changes {
            realm_id: realm.clone(),
            invoice_ids: wanted.invoices.iter().cloned().collect(),
            payment_ids: wanted.payments.iter().cloned().collect(),
        };
        receipt.queued +=
            apply_or_queue(state, started, &realm, work, job, &mut receipt.updated).await?;
    }
    Ok(receipt)
}

fn first_failure(failures: &[(CompanyId, SyncError)]) -> Option<String> {
    failures
        .first()
        .map(|(company, error)| format!("company {company}: {error}"))
}

/// Runs one realm's `work` (links written, and a company's failure) within what is left of the
/// budget; when it does not finish in time or fails, `job` goes to the sync queue. Answers the
/// realms queued (0 or 1); only a queue refusing is an error.
async fn apply_or_queue(
    state: &WebhookState,
    started: Instant,
    realm: &str,
    work: impl std::future::Future<Output = Result<(usize, Option<String>), SyncError>>,
    job: Job,
    updated: &mut usize,
) -> Result<usize, ApiError> {
    let left = state.budget.saturating_sub(started.elapsed());
    let retry = match tokio::time::timeout(left, work).await {
        Ok(Ok((changed, failure))) => {
            *updated += changed;
            failure
        }
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!(
            "not finished within {} ms",
            state.budget.as_millis()
        )),
    };
    let Some(reason) = retry else { return Ok(0) };
    tracing::info!(realm_id = %realm, %reason, "webhook changes handed to the sync queue");
    state
        .queue
        .send(&[job])
        .await
        .map_err(|e| ApiError::internal(format!("queueing webhook changes failed: {e}")))?;
    Ok(1)
}
