//! The status sync and the QuickBooks webhook against the simulators with the store and the token
//! secrets on moto's DynamoDB and Secrets Manager, jobs through the in-process SQS-shaped driver.
//! (The 10,000-invoice cost run uses the embedded store: `functions/status-sync/tests/sync.rs`.)

#[path = "../../functions/status-sync/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use integration_tests::moto::{dynamo_store, secrets_store};
use rust_decimal_macros::dec;
use sandbox::harness::FaultSpec;
use sandbox::quickbooks::{WebhookConfig, WebhookFormat};
use shared::app::testing::test_credentials;
use shared::domain::InvoiceStatus;
use support::{OTHER_REALM, US_REALM, World};

async fn moto_world() -> World {
    let prefix = format!("sync-{}", uuid::Uuid::new_v4().simple());
    World::start(dynamo_store().await, secrets_store().await, &prefix).await
}

fn an_hour_ago() -> Option<chrono::DateTime<Utc>> {
    Some(Utc::now() - Duration::hours(1))
}

#[tokio::test]
async fn moto_a_webhook_payment_updates_the_link_to_paid_without_a_scheduled_run() {
    let w = moto_world().await;
    let server = sandbox::harness::serve(
        shared::web::http::finish(quickbooks_webhook::router_with(
            w.app.clone(),
            Arc::new(w.queue.clone()),
            quickbooks_webhook::WORK_BUDGET,
        )),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    w.quickbooks.set_webhook_config(WebhookConfig {
        url: Some(format!("{}/webhooks/quickbooks", server.base_url())),
        verifier_token: test_credentials()
            .quickbooks_webhook_verifier
            .expose()
            .to_string(),
        format: WebhookFormat::CloudEvents,
        batch_ms: 0,
    });
    w.connect(1, 11, US_REALM, None).await;
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

#[tokio::test]
async fn moto_with_webhooks_off_one_scheduled_run_brings_every_changed_status_up_to_date() {
    let w = moto_world().await;
    w.connect(1, 11, US_REALM, an_hour_ago()).await;
    let (paid, paid_link) = w.invoice_on_deal(1, 1, US_REALM, dec!(100)).await;
    let (part, part_link) = w.invoice_on_deal(1, 2, US_REALM, dec!(200)).await;
    let (void, void_link) = w.invoice_on_deal(1, 3, US_REALM, dec!(300)).await;
    let (gone, gone_link) = w.invoice_on_deal(1, 4, US_REALM, dec!(400)).await;
    let id = |i: &shared::wire::quickbooks::model::Invoice| i.id.clone().unwrap();
    w.quickbooks
        .record_payment(US_REALM, &id(&paid), None)
        .unwrap();
    w.quickbooks
        .record_payment(US_REALM, &id(&part), Some(dec!(50)))
        .unwrap();
    w.quickbooks.void_invoice(US_REALM, &id(&void)).unwrap();
    w.quickbooks.delete_invoice(US_REALM, &id(&gone)).unwrap();
    w.quickbooks.harness().clear_log();
    w.store.reset();

    let (enqueued, report) = w.scheduled_run().await;
    assert_eq!((enqueued, report.failed), (1, 0));
    assert_eq!(w.link_of(&paid_link).await.status, InvoiceStatus::Paid);
    assert_eq!(
        w.link_of(&part_link).await.status,
        InvoiceStatus::PartiallyPaid
    );
    assert_eq!(w.link_of(&void_link).await.status, InvoiceStatus::Voided);
    assert_eq!(w.link_of(&gone_link).await.status, InvoiceStatus::Deleted);
    assert_eq!(w.api_calls(US_REALM).len(), 1);
    assert_eq!(w.store.link_puts(), 4);
    assert!(w.profile(1).await.sync_watermark.unwrap() > Utc::now() - Duration::minutes(5));
}

#[tokio::test]
async fn moto_cost_one_call_per_company_and_only_the_changed_links_written() {
    let w = moto_world().await;
    let companies = [
        (101u64, "9341453050420111", 10usize),
        (102, "9341453050420112", 1_000),
    ];
    for (company, realm, tracked) in companies {
        w.connect(company, 1, realm, an_hour_ago()).await;
        w.seed_quiet_links(company, realm, tracked - 5).await;
        for deal in 0..5 {
            let (invoice, _) = w.invoice_on_deal(company, deal + 1, realm, dec!(120)).await;
            w.quickbooks
                .record_payment(realm, invoice.id.as_deref().unwrap(), None)
                .unwrap();
        }
    }
    w.quickbooks.harness().clear_log();
    w.store.reset();
    let (enqueued, report) = w.scheduled_run().await;
    assert_eq!((enqueued, report.failed), (2, 0));
    for (company, realm, tracked) in companies {
        assert_eq!(w.api_calls(realm).len(), 1, "{tracked} invoices");
        assert_eq!(w.store.link_puts_of(company), 5, "{tracked} invoices");
        println!(
            "cost (moto): {tracked} invoices tracked, 5 changed → {} QuickBooks call(s), {} link writes",
            w.api_calls(realm).len(),
            w.store.link_puts_of(company)
        );
    }
}

#[tokio::test]
async fn moto_a_failing_company_does_not_stop_the_others_and_keeps_its_watermark() {
    let w = moto_world().await;
    let watermark = Utc::now() - Duration::hours(1);
    w.connect(1, 11, US_REALM, Some(watermark)).await;
    w.connect(2, 21, OTHER_REALM, Some(watermark)).await;
    let (us, us_link) = w.invoice_on_deal(1, 1, US_REALM, dec!(100)).await;
    let (other, other_link) = w.invoice_on_deal(2, 1, OTHER_REALM, dec!(100)).await;
    w.quickbooks
        .record_payment(US_REALM, us.id.as_deref().unwrap(), None)
        .unwrap();
    w.quickbooks
        .record_payment(OTHER_REALM, other.id.as_deref().unwrap(), None)
        .unwrap();
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{OTHER_REALM}/"),
        FaultSpec {
            force_500: 100,
            ..FaultSpec::default()
        },
    );
    let (_, report) = w.scheduled_run().await;
    assert_eq!((report.processed, report.failed), (2, 1));
    assert_eq!(w.link_of(&us_link).await.status, InvoiceStatus::Paid);
    assert_eq!(w.link_of(&other_link).await.status, InvoiceStatus::Open);
    // Stored timestamps are compared at DynamoDB's precision (RFC 3339 round trip).
    let kept = w.profile(2).await.sync_watermark.unwrap();
    assert!(
        (kept - watermark).num_milliseconds().abs() < 1,
        "{kept} vs {watermark}"
    );

    w.quickbooks.harness().clear_faults();
    let retry = w.redeliver().await;
    assert_eq!((retry.processed, retry.failed), (1, 0));
    assert_eq!(w.link_of(&other_link).await.status, InvoiceStatus::Paid);
    assert!(w.profile(2).await.sync_watermark.unwrap() > watermark);
    assert!(w.queue.is_empty());
}
