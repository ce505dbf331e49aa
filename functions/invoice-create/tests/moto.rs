//! Exactly once, against DynamoDB and Secrets Manager served by moto: 20 concurrent creates with
//! the same key, and a crash between the QuickBooks call and the link write followed by a retry.

mod support;

use serde_json::{Value, json};
use support::*;

const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

async fn ready(w: &World) -> Value {
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
    w.link_customer(B, 1, "3").await;
    w.link_item(B, 1, "4").await;
    w.link_item(B, 2, "2").await;
    w.ready_draft(B, 1).await["form"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_with_one_key_make_one_invoice_and_twenty_identical_answers() {
    let w = world().moto().start().await;
    let form = ready(&w).await;
    // Some latency so that the requests really overlap the QuickBooks call.
    w.quickbooks.harness().set_latency_ms(50);
    w.caller
        .same_post_at_once(20, "/api/deals/1/invoices", B, Some(&form), "same-key")
        .await;
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "one invoice in QuickBooks"
    );
    assert_eq!(w.invoice_posts(US_REALM).len(), 1, "one create call");
    assert_eq!(w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(), 1);
    assert_eq!(w.pipedrive.notes().len(), 1, "one note");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_quickbooks_and_the_link_write_is_finished_by_the_retry() {
    let w = world().moto().start().await;
    w.store.fail_writes("#INVOICE#", 1);
    let form = ready(&w).await;
    let (status, problem) = w
        .call_json(
            "POST",
            "/api/deals/1/invoices",
            B,
            Some(&form),
            Some("crash-key"),
        )
        .await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "QuickBooks created it"
    );
    assert!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.is_empty(),
        "the link write crashed"
    );
    assert!(w.pipedrive.notes().is_empty());
    // The retry: QuickBooks replays the same invoice for the same requestid; the link is written.
    let (status, created) = w
        .call_json(
            "POST",
            "/api/deals/1/invoices",
            B,
            Some(&form),
            Some("crash-key"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let invoices = w.quickbooks.invoices(US_REALM).unwrap();
    assert_eq!(invoices.len(), 1, "no duplicate");
    assert_eq!(
        created["invoice"]["id"],
        json!(invoices[0].id.clone().unwrap())
    );
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(),
        1,
        "one link"
    );
    assert_eq!(w.pipedrive.notes().len(), 1);
    let posts = w.invoice_posts(US_REALM);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].query, posts[1].query, "the same requestid");
    // And again: the stored answer.
    let (status, again) = w
        .call_json(
            "POST",
            "/api/deals/1/invoices",
            B,
            Some(&form),
            Some("crash-key"),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(again, created);
}
