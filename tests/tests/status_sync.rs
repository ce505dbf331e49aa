//! The QuickBooks webhook and the status-sync worker together: work the webhook cannot finish
//! within its budget is handed to the queue, and the worker finishes it.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal_macros::dec;
use serde_json::json;
use shared::app::sync::jobs::{InProcessQueue, Job};
use shared::domain::InvoiceStatus;
use shared::wire::quickbooks::webhook::sign;
use test_world::{US_REALM, World, deliver_webhook, webhook_verifier};

fn router(w: &World, queue: &InProcessQueue, budget: Duration) -> axum::Router {
    shared::web::http::finish(quickbooks_webhook::router_with(
        w.app.clone(),
        Arc::new(queue.clone()),
        budget,
    ))
}

#[tokio::test]
async fn work_that_does_not_fit_the_budget_is_handed_to_the_queue() {
    let w = World::embedded().await;
    let queue = InProcessQueue::new();
    w.connect(1, 11, US_REALM).await;
    let (invoice, link) = w.invoice_on_deal(1, 7, US_REALM, dec!(300)).await;
    let payment = w
        .quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    let body = json!({"eventNotifications": [{"realmId": US_REALM, "dataChangeEvent": {"entities": [
        {"name": "Payment", "id": payment.id, "operation": "Create", "lastUpdated": "2026-11-27T04:00:00.000Z"}
    ]}}]})
    .to_string();
    let signature = sign(&webhook_verifier(), body.as_bytes());

    // QuickBooks answers slowly: the handler still answers 200 in time and queues the work.
    w.quickbooks.harness().set_latency_ms(400);
    let started = std::time::Instant::now();
    let reply = deliver_webhook(
        router(&w, &queue, Duration::from_millis(100)),
        &body,
        Some(&signature),
    )
    .await;
    let (status, receipt) = (reply.status, reply.json());
    assert_eq!(status, 200, "{receipt}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(receipt["queued"], 1);
    assert_eq!(
        queue.pending_jobs(),
        vec![Job::Changes {
            realm_id: US_REALM.into(),
            invoice_ids: vec![],
            payment_ids: vec![payment.id.clone().unwrap()],
        }]
    );

    // QuickBooks throttles: queued as well.
    w.quickbooks.harness().set_latency_ms(0);
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{US_REALM}/"),
        sandbox::harness::FaultSpec {
            force_429: 1,
            ..Default::default()
        },
    );
    // (Intuit's next notification of the change: new bytes, so not a replay.)
    let body = body.replace("04:00:00.000Z", "04:00:01.000Z");
    let signature = sign(&webhook_verifier(), body.as_bytes());
    let reply = deliver_webhook(
        router(&w, &queue, quickbooks_webhook::WORK_BUDGET),
        &body,
        Some(&signature),
    )
    .await;
    let (status, receipt) = (reply.status, reply.json());
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["queued"], 1);
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Open);

    // The worker finishes the job.
    let report = status_sync::worker::drain_once(&w.app, &queue, 10, chrono::Utc::now()).await;
    assert_eq!((report.processed, report.failed), (2, 0));
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
}
