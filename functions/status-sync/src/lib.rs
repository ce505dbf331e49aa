//! The `status-sync` function: the scheduled safety net that keeps invoice statuses current when
//! webhooks are off, late or lost, at a cost that does not grow with the number of invoices.
//!
//! One binary, two triggers (the event's shape decides, see `main.rs`):
//!
//! | trigger | what |
//! |---|---|
//! | EventBridge Scheduler (every 15 minutes, flexible window) | [`worker::schedule`]: one [`Job::Company`](shared::app::sync::jobs::Job::Company) per connected company on the SQS queue |
//! | SQS event source (partial batch responses) | [`worker::handle_batch`]: per company [`company::sync_company`] — one CDC call since the watermark, changed links only, watermark after the updates, overdue pass without any API call; [`Job::Changes`](shared::app::sync::jobs::Job::Changes) from the webhook via [`apply_changes`](shared::app::sync::targeted::apply_changes) |
//!
//! No HTTP routes are deployed. The local server mounts [`local_router`] (`POST /_local/sync`:
//! schedule, then deliver every queued job once through the in-process SQS-shaped driver).
//!
//! QuickBooks limits: a job makes its calls one after another (≤ 1 in flight per company) and a
//! normal run is one call per company per 15 minutes, far from 500 a minute. A 429 or fault
//! 3001 fails the job; SQS makes it visible again after the visibility timeout (≥ 60 s), so the
//! back-off needs no sleeping. A company whose connection needs reconnecting is skipped (its
//! profile already shows `needs_reconnect`) and not retried; one company's failure never
//! affects another's message.

pub mod company;
pub mod worker;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use shared::app::App;
use shared::web::error::ApiError;
use shared::web::http::Route;

use crate::worker::{DrainReport, drain_once, schedule};
use shared::app::sync::jobs::{InProcessQueue, local_queue};

/// HTTP routes deployed for this function: none (it is triggered by the schedule and SQS).
pub const ROUTES: &[Route] = &[];

/// The local server's route that runs a sync now.
pub const LOCAL_SYNC_ROUTE: Route = Route::new("POST", "/_local/sync");

/// `POST /_local/sync` on the process' [`local_queue`] (local server only).
pub fn local_router(app: App) -> Router {
    local_router_with(app, local_queue().clone())
}

/// `POST /_local/sync` on the given in-process queue.
pub fn local_router_with(app: App, queue: InProcessQueue) -> Router {
    Router::new()
        .route(LOCAL_SYNC_ROUTE.path, post(sync_now))
        .with_state((app, queue))
}

#[derive(Debug, Serialize)]
struct SyncNow {
    /// Company jobs enqueued by the schedule step.
    enqueued: usize,
    #[serde(flatten)]
    drained: DrainReport,
    /// Failed jobs waiting for the next run.
    waiting: usize,
    dead_letters: usize,
}

async fn sync_now(
    State((app, queue)): State<(App, InProcessQueue)>,
) -> Result<Json<SyncNow>, ApiError> {
    let enqueued = schedule(&app, &queue)
        .await
        .map_err(|e| ApiError::internal(format!("scheduling the sync failed: {e}")))?;
    let drained = drain_once(&app, &queue, 10, app.clock.now()).await;
    Ok(Json(SyncNow {
        enqueued,
        drained,
        waiting: queue.visible_len(),
        dead_letters: queue.dead_letters().len(),
    }))
}
