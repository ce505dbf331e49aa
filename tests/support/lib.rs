//! What the integration tests share beyond the test world (`test-world`): every function's
//! router served together, as `cargo run -p local` serves them, and the counts file
//! `target/reliability/<suite>.json` that `tests/reliability/fuzz.sh` summarises.

use std::sync::Arc;

use axum::Router;
use chrono::Utc;
use serde_json::{Value, json};
use shared::app::App;
use shared::app::sync::jobs::InProcessQueue;
use shared::web::http::Route;
use shared::wire::quickbooks::webhook::sign;
use test_world::{
    Answer, COMPANY_A, USER_A_ADMIN, World, WorldBuilder, deliver_webhook, webhook_verifier,
};

/// Every deployed route (what template.yaml and the OpenAPI description list), by function:
/// `local::function_routes()`, so a route is covered the day its function joins the local server.
pub fn all_routes() -> Vec<(&'static str, Route)> {
    local::function_routes()
}

/// Every function's router, merged and finished exactly as `cargo run -p local` serves them.
pub fn full_router(app: &App) -> Router {
    local::routes(app.clone())
}

/// The invoicing routers only (create + actions), for the fault run.
pub fn invoicing_router(app: &App) -> Router {
    shared::web::http::finish(
        invoice_create::router(app.clone()).merge(invoice_actions::router(app.clone())),
    )
}

/// A world serving every function's router, its companies in Berlin.
pub fn full_world() -> WorldBuilder {
    World::builder()
        .serving(full_router)
        .time_zone("Europe/Berlin")
}

/// Company A's deal 2 (on the GB realm) invoiced with `key`: its organization linked to customer
/// 1, its products 4 and 1 to items 3 and 2, the ready draft's form created (201). Returns the
/// form and the answer.
pub async fn invoice_deal_2_of_a(w: &World, key: &str) -> (Value, Answer) {
    let a = (COMPANY_A, USER_A_ADMIN);
    w.link_customer(a, 2, "1").await;
    w.link_item(a, 4, "3").await;
    w.link_item(a, 1, "2").await;
    let form = w.ready_draft(a, 2).await["form"].clone();
    let created = w
        .call("POST", "/api/deals/2/invoices", a, Some(&form), Some(key))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    (form, created)
}

/// Writes a suite's counts to `target/reliability/<suite>.json` (summarised by
/// `tests/reliability/fuzz.sh` at the end of `tests/run`).
pub fn write_counts(suite: &str, counts: Value) {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    let dir = target.join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let mut counts = counts;
    counts["suite"] = json!(suite);
    counts["at"] = json!(Utc::now().to_rfc3339());
    std::fs::write(
        dir.join(format!("{suite}.json")),
        serde_json::to_string_pretty(&counts).unwrap(),
    )
    .unwrap();
    println!("reliability counts ({suite}): {counts}");
}

/// The webhook Intuit sends for a payment created in `realm`, delivered to the webhook
/// function's router (`nonce` makes each delivery's bytes new).
pub async fn payment_webhook(w: &World, realm: &str, payment: &str, nonce: u32) {
    entity_webhook(w, realm, "Payment", payment, "Create", nonce).await;
}

/// The webhook Intuit sends for a change of one entity of `realm` (legacy format), delivered to
/// the webhook function's router (`nonce` makes each delivery's bytes new); it must answer 200.
pub async fn entity_webhook(
    w: &World,
    realm: &str,
    entity: &str,
    id: &str,
    operation: &str,
    nonce: u32,
) {
    let body = json!({"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
        {"name": entity, "id": id, "operation": operation,
         "lastUpdated": format!("2026-12-06T04:00:{nonce:02}.000Z")}
    ]}}]})
    .to_string();
    let signature = sign(&webhook_verifier(), body.as_bytes());
    let router = shared::web::http::finish(quickbooks_webhook::router_with(
        w.app.clone(),
        Arc::new(InProcessQueue::new()),
        quickbooks_webhook::WORK_BUDGET,
    ));
    let reply = deliver_webhook(router, &body, Some(&signature)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// One scheduled status-sync run: the schedule's jobs delivered once, none failed.
pub async fn scheduled_sync(w: &World) {
    let queue = InProcessQueue::new();
    status_sync::worker::schedule(&w.app, &queue).await.unwrap();
    let report = status_sync::worker::drain_once(&w.app, &queue, 10, w.now()).await;
    assert_eq!(report.failed, 0, "{report:?}");
}
