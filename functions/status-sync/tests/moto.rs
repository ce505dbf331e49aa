//! The scheduled sync against the simulators with the store and the token secrets on moto's
//! DynamoDB and Secrets Manager, jobs through the in-process SQS-shaped driver. (The
//! 10,000-invoice cost run uses the embedded store: `sync.rs`.)

mod support;

use chrono::{Duration, Utc};
use shared::domain::InvoiceStatus;
use support::*;

async fn moto_world() -> World {
    World::builder().moto().start().await
}

#[tokio::test]
async fn moto_with_webhooks_off_one_scheduled_run_brings_every_changed_status_up_to_date() {
    let w = moto_world().await;
    let Changed {
        paid: paid_link,
        part: part_link,
        void: void_link,
        gone: gone_link,
    } = four_changes(&w).await;
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
    five_paid_of(&w, &companies).await;
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
    let (us_link, other_link) = one_company_failing(&w, watermark).await;
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
