//! `POST /_local/rules` (local server only; never deployed): applies the invoicing rules now
//! ([`invoice_create::rules::run_scheduled`]), as the `invoice-rules` function does on its
//! 15-minute schedule when deployed — so a person clicking through (and the browser tests) need
//! not wait for it. Answers the run's report (what the deployed function answers its tick).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use invoice_create::rules::{RulesReport, run_scheduled};
use shared::app::App;
use shared::web::error::ApiError;
use shared::web::http::Route;

pub const RULES_NOW_ROUTE: Route = Route::new("POST", "/_local/rules");

pub fn router(app: App) -> Router {
    Router::new()
        .route(RULES_NOW_ROUTE.path, post(rules_now))
        .with_state(app)
}

async fn rules_now(State(app): State<App>) -> Result<Json<RulesReport>, ApiError> {
    run_scheduled(&app).await.map(Json).map_err(ApiError::from)
}
