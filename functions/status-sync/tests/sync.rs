//! The scheduled sync against the simulators, the embedded store and the in-process SQS-shaped
//! driver (the moto-backed runs are in `moto.rs`).

mod support;

use chrono::{Duration, Utc};
use rust_decimal_macros::dec;
use sandbox::harness::FaultSpec;
use shared::app::sync::jobs::{Job, JobQueue};
use shared::domain::{CompanyId, ConnectionState, DealId, InvoiceStatus};
use status_sync::company::{CompanyOutcome, sync_company};
use support::*;

#[tokio::test]
async fn with_webhooks_off_one_scheduled_run_brings_every_changed_status_up_to_date() {
    let w = World::embedded().await;
    let Changed {
        paid: paid_link,
        part: part_link,
        void: void_link,
        gone: gone_link,
    } = four_changes(&w).await;
    // An open link whose due date passed yesterday (in the company's time zone), unchanged in
    // QuickBooks: it turns Overdue without any call.
    w.seed_quiet_links(1, US_REALM, 1).await;
    let mut late = w
        .app
        .records
        .get_invoice_link(CompanyId(1), DealId(10_000), "5000000")
        .await
        .unwrap()
        .unwrap();
    late.due_date = Some(Utc::now().date_naive() - Duration::days(1));
    let late = w.app.records.save_invoice_link(&late).await.unwrap();
    assert_eq!(late.status, InvoiceStatus::Open);
    // The previous run was yesterday (so today's overdue pass is due).
    let mut profile = w.profile(1).await;
    profile.sync_watermark = Some(Utc::now() - Duration::days(1));
    w.app.records.save_company(&profile).await.unwrap();
    w.quickbooks.harness().clear_log();
    w.store.reset();

    let (enqueued, report) = w.scheduled_run().await;
    assert_eq!(enqueued, 1);
    assert_eq!(report.failed, 0);
    assert!(w.queue.is_empty());

    assert_eq!(w.link_of(&paid_link).await.status, InvoiceStatus::Paid);
    let part_now = w.link_of(&part_link).await;
    assert_eq!(part_now.status, InvoiceStatus::PartiallyPaid);
    assert_eq!(part_now.balance, dec!(150));
    let void_now = w.link_of(&void_link).await;
    assert_eq!(void_now.status, InvoiceStatus::Voided);
    assert_eq!(void_now.total, dec!(300), "a voided link keeps its total");
    assert_eq!(w.link_of(&gone_link).await.status, InvoiceStatus::Deleted);
    assert_eq!(w.link_of(&late).await.status, InvoiceStatus::Overdue);

    let calls = w.api_calls(US_REALM);
    assert_eq!(calls.len(), 1, "one CDC call: {calls:?}");
    assert!(calls[0].path.ends_with("/cdc"));
    assert_eq!(w.store.link_puts(), 5, "four changed links and one overdue");

    // Every status change is on the deal's activity.
    let activity = w
        .app
        .records
        .deal_activity(CompanyId(1), DealId(1), 10)
        .await
        .unwrap();
    assert!(
        activity
            .iter()
            .any(|e| e.kind == "status.changed" && e.message.contains("now paid")),
        "{activity:?}"
    );
    let activity = w
        .app
        .records
        .deal_activity(CompanyId(1), DealId(10_000), 10)
        .await
        .unwrap();
    assert!(activity.iter().any(|e| e.message.contains("now overdue")));

    // The watermark moved; a second run finds nothing new and writes no link.
    let watermark = w.profile(1).await.sync_watermark.unwrap();
    assert!(watermark > Utc::now() - Duration::minutes(5));
    w.store.reset();
    w.quickbooks.harness().clear_log();
    w.scheduled_run().await;
    assert_eq!(w.store.link_puts(), 0);
    assert_eq!(w.api_calls(US_REALM).len(), 1);
}

/// Companies tracking 10, 1,000 and 10,000 invoices, 5 of them changed: one QuickBooks call per
/// company and exactly the 5 changed links written. The unchanged links are seeded straight
/// into the embedded store (10,000 through moto would take minutes; the moto-backed runs are in
/// `moto.rs`).
#[tokio::test]
async fn cost_per_run_does_not_grow_with_the_invoices_tracked() {
    let w = World::embedded().await;
    let companies = [
        (101u64, "9341453050420101", 10usize),
        (102, "9341453050420102", 1_000),
        (103, "9341453050420103", 10_000),
    ];
    let changed = five_paid_of(&w, &companies).await;
    w.quickbooks.harness().clear_log();
    w.store.reset();

    let started = std::time::Instant::now();
    let (enqueued, report) = w.scheduled_run().await;
    let elapsed = started.elapsed();
    assert_eq!(enqueued, 3);
    assert_eq!(report.failed, 0);
    for (company, realm, tracked) in companies {
        let calls = w.api_calls(realm);
        assert_eq!(calls.len(), 1, "{tracked} invoices: {calls:?}");
        assert!(calls[0].path.ends_with("/cdc"));
        assert_eq!(w.store.link_puts_of(company), 5, "{tracked} invoices");
        println!(
            "cost: {tracked} invoices tracked, 5 changed → {} QuickBooks call(s), {} link writes",
            calls.len(),
            w.store.link_puts_of(company)
        );
    }
    println!(
        "cost: other writes (watermarks, activity events) for the three companies: {}; run took {elapsed:?} on the embedded store",
        w.store.other_puts()
    );
    for link in changed {
        assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
    }
}

#[tokio::test]
async fn a_window_with_more_than_1000_changes_is_split_and_nothing_is_missed() {
    let w = World::embedded().await;
    w.connect(1, 11, US_REALM).watermark(an_hour_ago()).await;
    let due = Utc::now().date_naive() + Duration::days(30);
    let customer = w.usd_customer(US_REALM);
    // 600 invoices at t0, 500 at t1 = t0 + 10 s: 1,100 changes since the watermark.
    let mut first = Vec::new();
    for i in 0..600u64 {
        let invoice = w
            .create_invoice_with(US_REALM, &customer, dec!(10), None, Some(due))
            .await;
        first.push((invoice.clone(), w.link(1, 1 + i, US_REALM, &invoice).await));
    }
    // Paid at t0: inside the first (oldest) window.
    w.quickbooks
        .record_payment(US_REALM, first[0].0.id.as_deref().unwrap(), None)
        .unwrap();
    w.quickbooks.advance_clock(10);
    let mut second = Vec::new();
    for i in 0..500u64 {
        let invoice = w
            .create_invoice_with(US_REALM, &customer, dec!(10), None, Some(due))
            .await;
        second.push((
            invoice.clone(),
            w.link(1, 1_000 + i, US_REALM, &invoice).await,
        ));
    }
    w.quickbooks
        .record_payment(US_REALM, second[0].0.id.as_deref().unwrap(), Some(dec!(4)))
        .unwrap();
    w.quickbooks.advance_clock(10);
    // At t2: a deletion (CDC lists deleted objects after the active ones, so the first answer
    // cuts it off), a void and a payment.
    w.quickbooks
        .delete_invoice(US_REALM, first[1].0.id.as_deref().unwrap())
        .unwrap();
    w.quickbooks
        .void_invoice(US_REALM, second[1].0.id.as_deref().unwrap())
        .unwrap();
    w.quickbooks
        .record_payment(US_REALM, first[2].0.id.as_deref().unwrap(), None)
        .unwrap();
    w.quickbooks.harness().clear_log();

    let outcome = sync_company(&w.app, CompanyId(1), Utc::now())
        .await
        .unwrap();
    let CompanyOutcome::Synced(report) = outcome else {
        panic!("not synced: {outcome:?}");
    };
    assert!(
        report.cdc_calls >= 2,
        "the full window was split: {report:?}"
    );
    let cdc_calls = w
        .api_calls(US_REALM)
        .into_iter()
        .filter(|r| r.path.ends_with("/cdc"))
        .count();
    assert_eq!(cdc_calls, report.cdc_calls);

    assert_eq!(w.link_of(&first[0].1).await.status, InvoiceStatus::Paid);
    assert_eq!(w.link_of(&first[1].1).await.status, InvoiceStatus::Deleted);
    assert_eq!(w.link_of(&first[2].1).await.status, InvoiceStatus::Paid);
    assert_eq!(
        w.link_of(&second[0].1).await.status,
        InvoiceStatus::PartiallyPaid
    );
    assert_eq!(w.link_of(&second[1].1).await.status, InvoiceStatus::Voided);
    assert_eq!(w.link_of(&first[3].1).await.status, InvoiceStatus::Open);
    assert_eq!(report.status_changes, 5, "{report:?}");
}

#[tokio::test]
async fn a_failing_company_does_not_stop_the_others_is_retried_and_keeps_its_watermark() {
    let w = World::embedded().await;
    let watermark = Utc::now() - Duration::hours(1);
    let (us_link, gb_link) = one_company_failing(&w, watermark).await;

    let (enqueued, report) = w.scheduled_run().await;
    assert_eq!(enqueued, 2);
    assert_eq!(report.processed, 2);
    assert_eq!(report.failed, 1);
    assert_eq!(w.link_of(&us_link).await.status, InvoiceStatus::Paid);
    assert_eq!(w.link_of(&gb_link).await.status, InvoiceStatus::Open);
    assert_eq!(w.profile(2).await.sync_watermark, Some(watermark));
    assert!(w.profile(1).await.sync_watermark.unwrap() > watermark);
    assert_eq!(
        w.queue.pending_jobs(),
        vec![Job::Company {
            company_id: CompanyId(2)
        }],
        "only the failing company's job comes back"
    );

    // Still failing: retried again, watermark still in place.
    let again = w.redeliver().await;
    assert_eq!((again.processed, again.failed), (1, 1));
    assert_eq!(w.profile(2).await.sync_watermark, Some(watermark));

    // QuickBooks recovers: the retry catches up.
    w.quickbooks.harness().clear_faults();
    let last = w.redeliver().await;
    assert_eq!((last.processed, last.failed), (1, 0));
    assert_eq!(w.link_of(&gb_link).await.status, InvoiceStatus::Paid);
    assert!(w.profile(2).await.sync_watermark.unwrap() > watermark);
    assert!(w.queue.is_empty());
    assert!(w.queue.dead_letters().is_empty());
}

#[tokio::test]
async fn a_job_that_keeps_failing_ends_in_the_dead_letters() {
    let w = World::embedded().await;
    w.connect(1, 11, US_REALM).watermark(an_hour_ago()).await;
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{US_REALM}/"),
        FaultSpec {
            force_500: 100,
            ..FaultSpec::default()
        },
    );
    w.scheduled_run().await;
    for _ in 0..10 {
        w.redeliver().await;
    }
    assert!(w.queue.is_empty());
    assert_eq!(w.queue.dead_letters().len(), 1);
    assert_eq!(
        w.queue.dead_letters()[0].receives,
        shared::app::sync::jobs::MAX_RECEIVES
    );
}

#[tokio::test]
async fn throttling_fails_the_job_for_a_later_retry_without_spinning() {
    let w = World::embedded().await;
    let watermark = Utc::now() - Duration::hours(1);
    w.connect(1, 11, US_REALM).watermark(Some(watermark)).await;
    let (invoice, link) = w.invoice_on_deal(1, 1, US_REALM, dec!(80)).await;
    w.quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    w.quickbooks.harness().clear_log();
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{US_REALM}/"),
        FaultSpec {
            force_429: 1,
            ..FaultSpec::default()
        },
    );
    let (_, report) = w.scheduled_run().await;
    assert_eq!(report.failed, 1);
    assert_eq!(
        w.api_calls(US_REALM).len(),
        1,
        "no retry loop inside the job"
    );
    assert_eq!(w.profile(1).await.sync_watermark, Some(watermark));
    assert_eq!(w.queue.visible_len(), 1);
    let retry = w.redeliver().await;
    assert_eq!(retry.failed, 0);
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn a_company_that_must_reconnect_is_skipped_and_stays_visible_as_such() {
    let w = World::embedded().await;
    w.connect(1, 11, US_REALM).watermark(an_hour_ago()).await;
    w.connect(2, 21, OTHER_REALM).watermark(an_hour_ago()).await;
    let (invoice, link) = w.invoice_on_deal(2, 1, OTHER_REALM, dec!(80)).await;
    w.quickbooks
        .record_payment(OTHER_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    // The user disconnected the app in QuickBooks: every token of company 1 is dead.
    w.quickbooks.disconnect(US_REALM);
    let (_, report) = w.scheduled_run().await;
    assert_eq!(report.failed, 0, "skipped, not retried");
    assert!(w.queue.is_empty());
    let profile = w.profile(1).await;
    let connection = profile.quickbooks.unwrap();
    assert_eq!(connection.state, ConnectionState::NeedsReconnect);
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);

    // Later schedules do not enqueue it at all until someone reconnects.
    let (enqueued, _) = w.scheduled_run().await;
    assert_eq!(enqueued, 1);
    let outcome = sync_company(&w.app, CompanyId(1), Utc::now())
        .await
        .unwrap();
    assert!(
        matches!(outcome, CompanyOutcome::Skipped { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_watermark_older_than_30_days_is_clamped_and_the_gap_re_read() {
    let w = World::embedded().await;
    w.connect(1, 11, US_REALM)
        .watermark(Some(Utc::now() - Duration::days(10)))
        .await;
    let (invoice, link) = w.invoice_on_deal(1, 1, US_REALM, dec!(80)).await;
    let (_, open_link) = w.invoice_on_deal(1, 2, US_REALM, dec!(90)).await;
    w.quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    // 35 days pass without a sync: the payment is older than anything CDC can still report.
    w.quickbooks.advance_clock(35 * 24 * 3600);
    w.quickbooks.harness().clear_log();
    let now = w.quickbooks.now();
    let outcome = sync_company(&w.app, CompanyId(1), now).await.unwrap();
    let CompanyOutcome::Synced(report) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(report.cdc_calls, 1);
    assert!(report.query_calls >= 1, "the gap was re-read: {report:?}");
    let calls = w.api_calls(US_REALM);
    // (The access token expired meanwhile: a 401, a refresh, the same call again.)
    let cdc = calls.iter().rfind(|r| r.path.ends_with("/cdc")).unwrap();
    assert_eq!(
        cdc.status, 200,
        "changedSince clamped into the last 30 days"
    );
    assert!(calls.iter().any(|r| r.path.ends_with("/query")));
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
    // The other invoice is now past due (due 30 days after creation, 35 days ago).
    assert_eq!(w.link_of(&open_link).await.status, InvoiceStatus::Overdue);
    assert_eq!(
        w.profile(1).await.sync_watermark,
        Some(now - status_sync::company::WATERMARK_OVERLAP)
    );
}

#[tokio::test]
async fn a_note_is_added_to_the_deal_when_an_invoice_becomes_paid_if_the_company_wants_it() {
    let w = World::embedded().await;
    let company = support::COMPANY_A;
    let user = support::USER_A_ADMIN;
    w.connect(company, user, US_REALM)
        .watermark(an_hour_ago())
        .await;
    let mut profile = w.profile(company).await;
    profile.settings.note_on_paid = true;
    w.app.records.save_company(&profile).await.unwrap();
    let (invoice, link) = w.invoice_on_deal(company, 1, US_REALM, dec!(75)).await;
    w.quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    w.scheduled_run().await;
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
    let notes = w.pipedrive.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].company_id, company);
    assert!(notes[0].note.content.contains("was paid"), "{:?}", notes[0]);

    // Nothing new: no second note.
    w.scheduled_run().await;
    assert_eq!(w.pipedrive.notes().len(), 1);
}

#[tokio::test]
async fn targeted_jobs_from_the_webhook_run_in_the_worker() {
    let w = World::embedded().await;
    w.connect(1, 11, US_REALM).watermark(an_hour_ago()).await;
    let (invoice, link) = w.invoice_on_deal(1, 1, US_REALM, dec!(80)).await;
    let payment = w
        .quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    w.queue
        .send(&[Job::Changes {
            realm_id: US_REALM.into(),
            invoice_ids: vec![],
            payment_ids: vec![payment.id.unwrap()],
        }])
        .await
        .unwrap();
    let report = w.redeliver().await;
    assert_eq!((report.processed, report.failed), (1, 0));
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn the_local_sync_route_schedules_and_delivers_the_jobs() {
    let w = World::embedded().await;
    w.connect(1, 11, US_REALM).watermark(an_hour_ago()).await;
    let (invoice, link) = w.invoice_on_deal(1, 1, US_REALM, dec!(80)).await;
    w.quickbooks
        .record_payment(US_REALM, invoice.id.as_deref().unwrap(), None)
        .unwrap();
    let server = sandbox::harness::serve(
        shared::web::http::finish(status_sync::local_router_with(
            w.app.clone(),
            w.queue.clone(),
        )),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let response = w
        .http
        .post(format!("{}/_local/sync", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"enqueued": 1, "processed": 1, "failed": 0, "batches": 1,
                           "waiting": 0, "dead_letters": 0})
    );
    assert_eq!(w.link_of(&link).await.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn the_lambda_handler_tells_the_schedule_from_an_sqs_batch() {
    let w = World::embedded().await;
    w.connect(1, 11, US_REALM).watermark(an_hour_ago()).await;
    w.connect(2, 21, OTHER_REALM).watermark(an_hour_ago()).await;
    // The scheduler's input.
    let answer = status_sync::worker::handle_event(
        &w.app,
        &w.queue,
        serde_json::json!({"source": "status-sync.schedule"}),
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(answer, serde_json::json!({"enqueued": 2}));
    // Lambda's SQS event (as the event source would deliver it), one message failing.
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{OTHER_REALM}/"),
        FaultSpec {
            force_500: 10,
            ..FaultSpec::default()
        },
    );
    let batch = w.queue.receive(10);
    let event = serde_json::to_value(&batch).unwrap();
    assert_eq!(event["Records"][0]["eventSource"], "aws:sqs");
    let answer = status_sync::worker::handle_event(&w.app, &w.queue, event, Utc::now())
        .await
        .unwrap();
    let failures = answer["batchItemFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{answer}");
    let failed_id = failures[0]["itemIdentifier"].as_str().unwrap();
    let failed = batch
        .records
        .iter()
        .find(|r| r.message_id.as_deref() == Some(failed_id))
        .unwrap();
    assert_eq!(
        Job::from_body(failed.body.as_deref().unwrap()).unwrap(),
        Job::Company {
            company_id: CompanyId(2)
        }
    );
}
