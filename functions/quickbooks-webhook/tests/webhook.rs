//! The webhook handler: served on a local port and called by the QuickBooks simulator's webhook
//! sender (also on moto's DynamoDB and Secrets Manager), called directly with `oneshot`, and
//! invoked the way Lambda invokes it (an API Gateway v2 event). Work handed to the queue and
//! finished by the status-sync worker: `tests/tests/status_sync.rs`.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal_macros::dec;
use sandbox::quickbooks::WebhookFormat;
use serde_json::{Value, json};
use shared::app::App;
use shared::app::sync::changes::{Logged, apply_for_company};
use shared::app::sync::jobs::InProcessQueue;
use shared::domain::InvoiceStatus;
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use shared::wire::quickbooks::webhook::sign;
use test_world::{US_REALM, World, apigw, deliver_webhook, test_credentials, webhook_verifier};
use tower::ServiceExt;

const VECTOR: &str =
    include_str!("../../../tests/fixtures/quickbooks/webhook-signature-test-vector.json");

fn router(w: &World, queue: &InProcessQueue, budget: Duration) -> axum::Router {
    shared::web::http::finish(quickbooks_webhook::router_with(
        w.app.clone(),
        Arc::new(queue.clone()),
        budget,
    ))
}

async fn post(
    router: axum::Router,
    body: &str,
    signature: Option<&str>,
) -> (http::StatusCode, Value) {
    let reply = deliver_webhook(router, body, signature).await;
    (reply.status, reply.json())
}

/// Serves the webhook route on a local port and points the simulator's webhooks at it.
async fn serve_webhooks(
    w: &World,
    queue: &InProcessQueue,
    format: WebhookFormat,
) -> sandbox::harness::RunningServer {
    let server = sandbox::harness::serve(
        router(w, queue, quickbooks_webhook::WORK_BUDGET),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    w.point_webhooks_at(
        &format!("{}/webhooks/quickbooks", server.base_url()),
        format,
    );
    server
}

#[tokio::test]
async fn a_payment_with_webhooks_on_updates_the_link_to_paid_without_any_scheduled_run() {
    for format in [WebhookFormat::Legacy, WebhookFormat::CloudEvents] {
        let w = World::embedded().await;
        let queue = InProcessQueue::new();
        let _server = serve_webhooks(&w, &queue, format).await;
        w.connect(1, 11, US_REALM).await;
        let (invoice, link) = w.invoice_on_deal(1, 7, US_REALM, dec!(250)).await;
        w.quickbooks.flush_webhooks().await; // the creation's event
        w.quickbooks.harness().clear_log();

        w.quickbooks
            .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
            .unwrap();
        let deliveries = w.quickbooks.flush_webhooks().await;
        assert_eq!(deliveries.len(), 1, "{format:?}");
        assert_eq!(deliveries[0].status, Some(200), "{:?}", deliveries[0]);

        let now = w.link_of(&link).await;
        assert_eq!(now.status, InvoiceStatus::Paid, "{format:?}");
        assert_eq!(now.balance, dec!(0));
        let calls = w.api_calls(US_REALM);
        assert!(
            calls.iter().all(|r| !r.path.ends_with("/cdc")),
            "no scheduled run, no CDC: {calls:?}"
        );
        assert!(calls.len() <= 2, "payment and invoice read: {calls:?}");
        assert!(queue.is_empty(), "nothing handed to the queue");
        assert!(w.profile(1).await.sync_watermark.is_none());
    }
}

#[tokio::test]
async fn forged_or_altered_bodies_are_rejected_with_401_and_change_nothing() {
    let w = World::embedded().await;
    let queue = InProcessQueue::new();
    w.connect(1, 11, US_REALM).await;
    let (invoice, link) = w.invoice_on_deal(1, 7, US_REALM, dec!(250)).await;
    w.quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    w.quickbooks.harness().clear_log();
    w.store.reset();
    let body = json!({"eventNotifications": [{"realmId": US_REALM, "dataChangeEvent": {"entities": [
        {"name": "Invoice", "id": invoice.id, "operation": "Update", "lastUpdated": "2026-11-27T04:00:00.000Z"}
    ]}}]})
    .to_string();
    let good = sign(&webhook_verifier(), body.as_bytes());
    let altered = body.replace("Update", "Delete");
    let cases: [(&str, &str, Option<String>); 4] = [
        (
            "forged signature",
            &body,
            Some(sign("not-the-verifier", body.as_bytes())),
        ),
        ("altered body", &altered, Some(good.clone())),
        ("missing header", &body, None),
        ("not base64", &body, Some("%%%".into())),
    ];
    for (what, payload, signature) in cases {
        let (status, problem) = post(
            router(&w, &queue, quickbooks_webhook::WORK_BUDGET),
            payload,
            signature.as_deref(),
        )
        .await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(
            problem["type"], "urn:pipedrive-quickbooks:problem:unauthorized",
            "{what}: {problem}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("intuit-signature")
        );
    }
    assert!(w.api_calls(US_REALM).is_empty(), "nothing read");
    assert_eq!(w.store.link_puts(), 0, "nothing written");
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Open);
    assert!(queue.is_empty());

    // The genuine delivery goes through.
    let (status, receipt) = post(
        router(&w, &queue, quickbooks_webhook::WORK_BUDGET),
        &body,
        Some(&good),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["updated"], 1);
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn intuits_published_test_vector_verifies() {
    let vector: Value = serde_json::from_str(VECTOR).unwrap();
    let mut credentials = test_credentials();
    credentials.quickbooks_webhook_verifier = vector["verifier_token"].as_str().unwrap().into();
    let app = App::new(
        Arc::new(EmbeddedStore::in_memory()),
        Arc::new(EmbeddedSecrets::in_memory()),
        "vector",
        credentials,
        shared::app::Deployment::simulated(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ),
    );
    let queue = InProcessQueue::new();
    let router = || {
        shared::web::http::finish(quickbooks_webhook::router_with(
            app.clone(),
            Arc::new(queue.clone()),
            quickbooks_webhook::WORK_BUDGET,
        ))
    };
    let body = vector["raw_body"].as_str().unwrap();
    let header = vector["intuit_signature_header"].as_str().unwrap();
    let (status, receipt) = post(router(), body, Some(header)).await;
    assert_eq!(status, 200, "{receipt}");
    // A Customer event of a realm nobody links: acknowledged, ignored.
    assert_eq!(receipt, json!({"changes": 1, "updated": 0, "queued": 0}));
    let wrong = vector["wrong_signature_example"].as_str().unwrap();
    let (status, _) = post(router(), body, Some(wrong)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn duplicate_and_out_of_order_deliveries_leave_the_newest_state() {
    let w = World::embedded().await;
    let queue = InProcessQueue::new();
    let _server = serve_webhooks(&w, &queue, WebhookFormat::Legacy).await;
    w.connect(1, 11, US_REALM).await;
    let (invoice, link) = w.invoice_on_deal(1, 7, US_REALM, dec!(300)).await;
    let id = invoice.id.clone().unwrap();
    w.quickbooks.flush_webhooks().await;

    // First a partial payment…
    w.quickbooks
        .record_payment(US_REALM, &id, Some(dec!(100)))
        .unwrap();
    let first = w.quickbooks.flush_webhooks().await.remove(0);
    let after_first = w.quickbooks.invoice(US_REALM, &id).unwrap();
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::PartiallyPaid);
    // …then the rest.
    w.quickbooks.record_payment(US_REALM, &id, None).unwrap();
    let second = w.quickbooks.flush_webhooks().await.remove(0);
    let paid = w.link_of(&link).await;
    assert_eq!(paid.status, InvoiceStatus::Paid);

    // The same deliveries again (a copy Intuit redelivered, or a replay): acknowledged with
    // 200 so that Intuit stops retrying, and never applied twice (issue 20).
    w.store.reset();
    for delivery in [&second, &first] {
        let (status, receipt) = post(
            router(&w, &queue, quickbooks_webhook::WORK_BUDGET),
            &delivery.body,
            Some(&delivery.signature),
        )
        .await;
        assert_eq!(status, 200, "{receipt}");
        assert_eq!(receipt["redelivered"], true, "{receipt}");
        assert_eq!(receipt["updated"], 0, "{receipt}");
    }
    assert_eq!(w.store.link_puts(), 0, "a redelivery writes no link");
    // The same changes in new deliveries (other bytes, as a later notification about the same
    // state would be), the older one last: accepted, and nothing goes back in time.
    for (delivery, suffix) in [(&second, "\n"), (&first, "\n"), (&first, "\n\n")] {
        let body = format!("{}{suffix}", delivery.body);
        let signature =
            shared::wire::quickbooks::webhook::sign(&webhook_verifier(), body.as_bytes());
        let (status, receipt) = post(
            router(&w, &queue, quickbooks_webhook::WORK_BUDGET),
            &body,
            Some(&signature),
        )
        .await;
        assert_eq!(status, 200, "{receipt}");
        assert_eq!(receipt["updated"], 0, "nothing new: {receipt}");
    }
    assert_eq!(w.store.link_puts(), 0);
    assert_eq!(w.link_of(&link).await, paid);

    // A read that raced and came back with the older invoice never overwrites the newer state.
    let profile = w.profile(1).await;
    let applied = apply_for_company(
        &w.app,
        &profile,
        US_REALM,
        std::slice::from_ref(&after_first),
        Logged::Here,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(applied.changed, 0);
    assert_eq!(w.link_of(&link).await, paid);
}

#[tokio::test]
async fn realms_and_invoices_nobody_links_are_ignored_without_any_call() {
    let w = World::embedded().await;
    let queue = InProcessQueue::new();
    w.connect(1, 11, US_REALM).await;
    let (_, link) = w.invoice_on_deal(1, 7, US_REALM, dec!(300)).await;
    w.quickbooks.harness().clear_log();
    let body = json!([
        {"specversion": "1.0", "id": "a", "source": "s", "type": "qbo.invoice.updated.v1",
         "intuitentityid": "999999", "intuitaccountid": US_REALM},
        {"specversion": "1.0", "id": "b", "source": "s", "type": "qbo.payment.created.v1",
         "intuitentityid": "5", "intuitaccountid": "123456789"},
        {"specversion": "1.0", "id": "c", "source": "s", "type": "qbo.customer.updated.v1",
         "intuitentityid": "5", "intuitaccountid": US_REALM}
    ])
    .to_string();
    let (status, receipt) = post(
        router(&w, &queue, quickbooks_webhook::WORK_BUDGET),
        &body,
        Some(&sign(&webhook_verifier(), body.as_bytes())),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt, json!({"changes": 3, "updated": 0, "queued": 0}));
    assert!(w.quickbooks.harness().requests().is_empty());
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Open);

    // A malformed (but signed) body is a 400.
    let (status, problem) = post(
        router(&w, &queue, quickbooks_webhook::WORK_BUDGET),
        "{not json",
        Some(&sign(&webhook_verifier(), b"{not json")),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
}

#[tokio::test]
async fn api_gateway_v2_events_reach_the_handler_with_the_raw_body() {
    let w = World::embedded().await;
    let queue = InProcessQueue::new();
    w.connect(1, 11, US_REALM).await;
    let (invoice, link) = w.invoice_on_deal(1, 7, US_REALM, dec!(300)).await;
    w.quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    let body = format!(
        r#"{{"eventNotifications":[{{"realmId":"{US_REALM}","dataChangeEvent":{{"entities":[{{"name":"Invoice","id":"{}","operation":"Update","lastUpdated":"2026-11-27T04:00:00-0700"}}]}}}}]}}"#,
        invoice.id.as_deref().unwrap()
    );
    let event = apigw::event("POST", "/webhooks/quickbooks")
        .header("content-type", "application/json")
        .header(
            "intuit-signature",
            &sign(&webhook_verifier(), body.as_bytes()),
        )
        .user_agent("Intuit-Webhooks")
        .body(body)
        .to_string();
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = router(&w, &queue, quickbooks_webhook::WORK_BUDGET)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn moto_a_webhook_payment_updates_the_link_to_paid_without_a_scheduled_run() {
    let w = World::builder().moto().start().await;
    let server = serve_webhooks(&w, &w.queue, WebhookFormat::CloudEvents).await;
    w.connect(1, 11, US_REALM).await;
    let (invoice, link) = w.invoice_on_deal(1, 7, US_REALM, dec!(250)).await;
    w.quickbooks.flush_webhooks().await;
    w.quickbooks.harness().clear_log();
    w.quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    let deliveries = w.quickbooks.flush_webhooks().await;
    assert_eq!(deliveries[0].status, Some(200), "{deliveries:?}");
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
    assert!(
        w.api_calls(US_REALM)
            .iter()
            .all(|r| !r.path.ends_with("/cdc"))
    );
    assert!(w.queue.is_empty());

    // A forged delivery changes nothing.
    let body = deliveries[0].body.replace("updated", "deleted");
    let response = w
        .http
        .post(format!("{}/webhooks/quickbooks", server.base_url()))
        .header("intuit-signature", &deliveries[0].signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
}
