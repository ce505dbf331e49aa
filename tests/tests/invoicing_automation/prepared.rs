//! A prepared invoice is one click in the panel: a "prepare an invoice for review" rule got deal
//! 2 ready; the deal's list offers it (total, currency, customer, when, which rule, its key); the
//! one click creates it exactly once however often it is retried, and the offer is gone. A
//! manual create in the modal clears it as well.

use invoice_create::rules::run_scheduled;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::wire::pipedrive::model::{DealDiscount, DealStatus, DealUpdate};
use test_world::{Answer, COMPANY_A, GB_REALM, World};

use crate::support::*;
use integration_tests::invoice_deal_2_of_a;

/// Saves "when a deal is won → prepare an invoice for review", links deal 2's customer and
/// items, wins the deal and runs the rules pass: deal 2's invoice is prepared.
async fn prepared_deal_2() -> World {
    let w = world().await;
    let mut doc = w.call("GET", "/api/settings", A, None, None).await.json;
    doc["settings"]["rules"] = json!([{"trigger": {"kind": "won"}, "action": "prepare"}]);
    let saved = w.call("PUT", "/api/settings", A, Some(&doc), None).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    w.link_customer(A, 2, "1").await;
    w.link_item(A, 4, "3").await;
    w.link_item(A, 1, "2").await;
    w.advance(5);
    let won = DealUpdate {
        status: Some(DealStatus::Won),
        ..DealUpdate::default()
    };
    w.pipedrive.edit_deal(COMPANY_A, 2, &won).unwrap();
    w.advance(60);
    let report = run_scheduled(&w.app).await.unwrap();
    assert_eq!((report.done, report.waiting), (1, 0), "{report:?}");
    assert!(
        w.invoice_posts(GB_REALM).is_empty(),
        "prepared, not created"
    );
    w
}

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

async fn listed(w: &World) -> Value {
    let list = w.call("GET", "/api/deals/2/invoices", A, None, None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.json
}

/// The key of the preparation the deal's list offers.
async fn offered_key(w: &World) -> String {
    listed(w).await["prepared"]["key"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn click(w: &World, key: &str) -> Answer {
    w.call("POST", "/api/deals/2/prepared-invoice", A, None, Some(key))
        .await
}

#[tokio::test]
async fn a_prepared_invoice_is_created_once_with_one_click_and_then_no_longer_offered() {
    let w = prepared_deal_2().await;
    let list = listed(&w).await;
    let prepared = &list["prepared"];
    let draft = w.ready_draft(A, 2).await;
    assert_eq!(
        decimal(&prepared["total"]),
        decimal(&draft["totals"]["total"]),
        "{prepared:#}"
    );
    assert_eq!(prepared["currency"], "GBP");
    assert_eq!(
        prepared["customer_name"],
        draft["customer"]["block"]["name"]
    );
    assert_eq!(
        prepared["rule"],
        "when a deal is won → prepare an invoice for review"
    );
    assert!(prepared["prepared_at"].is_string());
    let key = prepared["key"].as_str().unwrap().to_string();

    // The click and its retry (a double click, a timeout): one invoice.
    let (first, second) = tokio::join!(click(&w, &key), click(&w, &key));
    for answer in [&first, &second] {
        assert!(matches!(answer.status, 201 | 409), "{}", answer.text);
    }
    let created = if first.status == 201 { &first } else { &second };
    let invoice = created.json["invoice"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        decimal(&created.json["invoice"]["total"]),
        decimal(&prepared["total"])
    );
    let again = click(&w, &key).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(
        again.json["invoice"]["id"],
        invoice.as_str(),
        "the same answer"
    );
    let created_in_quickbooks = w
        .invoice_posts(GB_REALM)
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(created_in_quickbooks, 1);

    let list = listed(&w).await;
    assert!(list.get("prepared").is_none(), "{list:#}");
    assert_eq!(list["invoices"][0]["invoice_id"], invoice.as_str());
}

#[tokio::test]
async fn a_manual_create_in_the_modal_clears_the_preparation() {
    let w = prepared_deal_2().await;
    let key = offered_key(&w).await;
    invoice_deal_2_of_a(&w, "modal-create-1").await;
    let list = listed(&w).await;
    assert!(list.get("prepared").is_none(), "{list:#}");
    // The panel still showing the old offer: its click creates nothing.
    let stale = click(&w, &key).await;
    assert_eq!(stale.status, 404, "{}", stale.text);
    assert_eq!(w.invoice_posts(GB_REALM).len(), 1);
}

#[tokio::test]
async fn a_deal_that_changed_since_it_was_prepared_is_reviewed_in_the_form() {
    let w = prepared_deal_2().await;
    let key = offered_key(&w).await;
    // A discount given on the deal since: the total the rep clicked on is not the invoice's.
    let discount: DealDiscount = serde_json::from_value(json!({
        "id": "5f0c1c2e-0000-4000-8000-000000000001", "description": "Loyalty",
        "amount": 10, "type": "amount", "deal_id": 2
    }))
    .unwrap();
    w.pipedrive
        .add_deal_discount(COMPANY_A, 2, discount)
        .unwrap();
    let refused = click(&w, &key).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.json["errors"][0]["field"], "expected_total");
    let sentence = refused.json["errors"][0]["message"].as_str().unwrap();
    assert!(sentence.contains("Review the invoice"), "{sentence}");
    assert!(w.invoice_posts(GB_REALM).is_empty());
    // Another key (an offer the panel showed before a newer one): refused, nothing created.
    let other = click(&w, "prepared:older:deal:2:1").await;
    assert_eq!(other.status, 409, "{}", other.text);
    assert!(w.invoice_posts(GB_REALM).is_empty());
    // The preparation is still offered (the rep reviews it in the form).
    assert_eq!(listed(&w).await["prepared"]["key"], key.as_str());
}
