//! The `invoice-actions` function end to end over HTTP, with both simulators in-process and the
//! store and secrets on moto's DynamoDB and Secrets Manager: every action, asserting the
//! simulator's state and the stored link afterwards; and a refusal that must leave the
//! DynamoDB items exactly as they were.

mod support;

use rust_decimal_macros::dec;
use serde_json::json;
use support::*;

async fn moto_world() -> World {
    standard_on(world().moto().start().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_end_to_end_against_the_moto_backed_store() {
    let w = moto_world().await;
    every_action_end_to_end(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_leave_dynamodb_and_quickbooks_unchanged() {
    let w = moto_world().await;
    let (paid, _) = w.acme_invoice(dec!(500)).await;
    let paid = paid.id.unwrap();
    w.quickbooks.record_payment(US_REALM, &paid, None).unwrap();
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let before = w.dump(COMPANY_A).await;
    let qb_before = w.qb_invoice(US_REALM, &paid);
    let void = format!("/invoices/{paid}/void");
    let r = w.a("POST", &void, None).await;
    assert_eq!(r.status, 422, "no confirmation: {}", r.json);
    let r = w.a("POST", &void, Some(json!({"confirm": true}))).await;
    assert_eq!(r.status, 409, "paid: {}", r.json);
    let r = w
        .a(
            "POST",
            &format!("/invoices/{paid}/send"),
            Some(json!({"to": "nope"})),
        )
        .await;
    assert_eq!(r.status, 422, "invalid address: {}", r.json);
    let r = w
        .call(
            "POST",
            &format!("/api/deals/1{void}"),
            (COMPANY_B, USER_B_ADMIN),
            Some(&json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "another company: {}", r.json);
    assert_eq!(
        w.dump(COMPANY_A).await,
        before,
        "the DynamoDB items are unchanged"
    );
    assert_eq!(w.qb_invoice(US_REALM, &paid), qb_before);
}
