//! The `invoice-actions` function over HTTP against both simulators, on the embedded store (the
//! same end-to-end scenario also runs on DynamoDB + Secrets Manager served by moto, in
//! `moto.rs`).

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use shared::domain::{AccessPolicy, CompanyId, ConnectionState, InvoiceStatus, Party};
use shared::wire::quickbooks::model::{Customer, EmailStatus, Ref};
use support::*;

fn today(w: &World) -> NaiveDate {
    w.now().date_naive()
}

fn row<'a>(answer: &'a Answer, id: &str) -> &'a Value {
    answer.json["invoices"]
        .as_array()
        .expect("an invoice list")
        .iter()
        .find(|i| i["invoice_id"] == id)
        .unwrap_or_else(|| panic!("invoice {id} in {}", answer.json))
}

/// Every row of the deal's list, page after page of `limit` (following `next_cursor`).
async fn every_page(w: &World, limit: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/invoices?limit={limit}"),
            Some(c) => format!("/invoices?limit={limit}&cursor={c}"),
        };
        let r = w.a("GET", &path, None).await;
        assert_eq!(r.status, 200, "{}", r.json);
        let page = r.json["invoices"].as_array().expect("an invoice list");
        assert!(page.len() <= limit);
        rows.extend(page.iter().cloned());
        match r.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return rows,
        }
    }
}

/// `n` invoices created for the deal, oldest first (totals 100, 101, …): their ids.
async fn acme_invoices(w: &World, n: u32) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (invoice, _) = w.acme_invoice(Decimal::from(100 + i)).await;
        ids.push(invoice.id.expect("QuickBooks gave the invoice an id"));
    }
    ids
}

fn posts(w: &World) -> usize {
    w.qb_calls(US_REALM)
        .iter()
        .filter(|(m, _)| m == "POST")
        .count()
}

#[tokio::test]
async fn every_action_end_to_end_on_the_embedded_store() {
    let w = standard().await;
    every_action_end_to_end(&w).await;
}

#[tokio::test]
async fn the_list_comes_from_the_store_with_a_summary_and_the_connection() {
    let w = standard().await;
    let (a, _) = w.acme_invoice(dec!(500)).await;
    let (b, _) = w.acme_invoice(dec!(120)).await;
    w.quickbooks
        .record_payment(US_REALM, b.id.as_deref().unwrap(), Some(dec!(20)))
        .unwrap();
    w.a("POST", "/invoices/refresh", None).await;
    w.clear_qb_log();
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(w.qb_calls(US_REALM).is_empty(), "no QuickBooks call");
    assert_eq!(r.json["connection"]["state"], "connected");
    assert_eq!(r.json["connection"]["environment"], "sandbox");
    assert_eq!(r.json["invoices"].as_array().unwrap().len(), 2);
    let first = row(&r, a.id.as_deref().unwrap());
    assert_eq!(first["doc_number"], a.doc_number.clone().unwrap());
    assert_eq!(first["status"], "open");
    assert_eq!(first["sent"], false);
    assert_eq!(first["currency"], "USD");
    assert_eq!(first["customer"]["id"], ACME);
    assert_eq!(first["customer"]["name"], "Acme Corp");
    assert_eq!(dec_of(&first["total"]), dec!(500));
    assert_eq!(first["date"], a.txn_date.unwrap().to_string());
    assert_eq!(first["due_date"], a.due_date.unwrap().to_string());
    let second = row(&r, b.id.as_deref().unwrap());
    assert_eq!(second["status"], "partially_paid");
    let summary = &r.json["summary"][0];
    assert_eq!(summary["currency"], "USD");
    assert_eq!(summary["invoices"], 2);
    assert_eq!(dec_of(&summary["outstanding"]), dec!(600));
    assert_eq!(dec_of(&summary["overdue"]), dec!(0));
    assert_eq!(dec_of(&summary["paid"]), dec!(20));

    // Another deal of the same company, and the same deal id in another company: empty.
    let r = w
        .call(
            "GET",
            "/api/deals/4/invoices",
            (COMPANY_A, USER_A_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.json["invoices"], json!([]));
    let r = w
        .call(
            "GET",
            "/api/deals/1/invoices",
            (COMPANY_B, USER_B_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["invoices"],
        json!([]),
        "company B's deal 1 is not A's"
    );
}

#[tokio::test]
async fn a_refresh_of_250_invoices_costs_one_quickbooks_query() {
    let w = standard().await;
    let ids = acme_invoices(&w, 250).await;
    w.quickbooks
        .record_payment(US_REALM, &ids[7], None)
        .unwrap();
    w.quickbooks
        .record_payment(US_REALM, &ids[42], Some(dec!(10)))
        .unwrap();
    w.clear_qb_log();
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        w.qb_calls(US_REALM),
        vec![("GET".to_string(), format!("/v3/company/{US_REALM}/query"))],
        "exactly one query call for 250 invoices"
    );
    let query = w.quickbooks.harness().requests()[0].query.clone().unwrap();
    assert!(query.contains("IN"), "an Id IN (…) query: {query}");
    assert_eq!(r.json["refresh"]["checked"], 250);
    assert_eq!(r.json["refresh"]["changed"], 2);
    assert_eq!(r.json["refresh"]["queries"], 1);
    // The answer is the list's first page (the newest 25) with the summary of all 250.
    assert_eq!(r.json["invoices"].as_array().unwrap().len(), 25);
    assert_eq!(r.json["invoice_count"], 250);
    assert_eq!(r.json["invoices"][0]["invoice_id"], ids[249].as_str());
    assert_eq!(r.json["summary"][0]["invoices"], 250);
    let rows = every_page(&w, 100).await;
    assert_eq!(rows.len(), 250);
    let status = |id: &str| {
        rows.iter()
            .find(|i| i["invoice_id"] == id)
            .map(|i| i["status"].clone())
            .unwrap_or_else(|| panic!("invoice {id} listed"))
    };
    assert_eq!(status(&ids[7]), "paid");
    assert_eq!(status(&ids[42]), "partially_paid");
    assert_eq!(status(&ids[0]), "open");
    let stored = w.stored_link(COMPANY_A, DEAL, &ids[7]).await.unwrap();
    assert_eq!(stored.status, InvoiceStatus::Paid);
}

#[tokio::test]
async fn a_deal_with_many_invoices_is_listed_a_page_at_a_time() {
    let w = standard().await;
    let ids = acme_invoices(&w, 60).await;
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        r.json["invoices"].as_array().unwrap().len(),
        25,
        "25 by default"
    );
    assert_eq!(r.json["invoice_count"], 60);
    assert_eq!(
        r.json["summary"][0]["invoices"], 60,
        "the summary covers every page"
    );
    assert!(r.json["next_cursor"].is_string());
    // Newest first: the last one created (the highest id, same date) leads.
    assert_eq!(r.json["invoices"][0]["invoice_id"], ids[59].as_str());

    let walked: Vec<String> = every_page(&w, 7)
        .await
        .iter()
        .map(|i| i["invoice_id"].as_str().unwrap().to_string())
        .collect();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(walked, newest_first, "every invoice once, in order");
    let whole = w.a("GET", "/invoices?limit=100", None).await;
    assert_eq!(whole.json["invoices"].as_array().unwrap().len(), 60);
    assert_eq!(whole.json["next_cursor"], Value::Null);

    for (query, problem) in [
        ("limit=0", "`limit` must be a number from 1 to 100."),
        ("limit=101", "`limit` must be a number from 1 to 100."),
        ("limit=ten", "`limit` must be a number from 1 to 100."),
        ("cursor=yesterday", "The page cursor is not valid"),
        ("cursor=2026-02-30.1", "The page cursor is not valid"),
    ] {
        let r = w.a("GET", &format!("/invoices?{query}"), None).await;
        assert_eq!(r.status, 400, "{query}: {}", r.json);
        assert!(
            r.json["detail"].as_str().unwrap().starts_with(problem),
            "{query}: {}",
            r.json
        );
    }
}

#[tokio::test]
async fn a_partial_then_a_full_payment_shows_partially_paid_then_paid() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    w.quickbooks
        .record_payment(US_REALM, &id, Some(dec!(200)))
        .unwrap();
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(
        row(&r, &id)["status"],
        "open",
        "the store does not know yet"
    );
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(row(&r, &id)["status"], "partially_paid");
    assert_eq!(dec_of(&row(&r, &id)["balance"]), dec!(300));
    assert_eq!(dec_of(&r.json["summary"][0]["paid"]), dec!(200));
    assert_eq!(dec_of(&r.json["summary"][0]["outstanding"]), dec!(300));
    w.quickbooks.record_payment(US_REALM, &id, None).unwrap();
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(row(&r, &id)["status"], "paid");
    assert_eq!(dec_of(&row(&r, &id)["balance"]), dec!(0));
    assert_eq!(dec_of(&r.json["summary"][0]["paid"]), dec!(500));
    assert_eq!(dec_of(&r.json["summary"][0]["outstanding"]), dec!(0));
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert_eq!(stored.status, InvoiceStatus::Paid);
    let log = w.activity(COMPANY_A, DEAL).await;
    assert!(
        log[0].message.contains("Partially paid → Paid"),
        "{}",
        log[0].message
    );
    assert!(
        log[1].message.contains("Open → Partially paid"),
        "{}",
        log[1].message
    );
}

#[tokio::test]
async fn passing_the_due_date_shows_overdue() {
    let w = standard().await;
    let issued = today(&w);
    let due = issued.checked_add_days(Days::new(5)).unwrap();
    let invoice = w
        .create_invoice_with(US_REALM, ACME, dec!(100), Some(issued), Some(due))
        .await;
    let id = invoice.id.clone().unwrap();
    w.link(COMPANY_A, DEAL, US_REALM, &invoice).await;
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(row(&r, &id)["status"], "open");
    w.advance(6 * 24 * 3600);
    w.clear_qb_log();
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(
        row(&r, &id)["status"],
        "overdue",
        "computed from the due date"
    );
    assert_eq!(dec_of(&r.json["summary"][0]["overdue"]), dec!(100));
    assert!(w.qb_calls(US_REALM).is_empty());
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(row(&r, &id)["status"], "overdue");
    assert_eq!(
        w.stored_link(COMPANY_A, DEAL, &id).await.unwrap().status,
        InvoiceStatus::Overdue
    );
    // The due date moved in QuickBooks: open again.
    let later = today(&w).checked_add_days(Days::new(30)).unwrap();
    w.quickbooks.set_due_date(US_REALM, &id, later).unwrap();
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(row(&r, &id)["status"], "open");
    assert_eq!(row(&r, &id)["due_date"], later.to_string());
}

#[tokio::test]
async fn voiding_or_deleting_in_quickbooks_shows_after_a_refresh() {
    let w = standard().await;
    let (voided, _) = w.acme_invoice(dec!(500)).await;
    let (deleted, _) = w.acme_invoice(dec!(80)).await;
    let (kept, _) = w.acme_invoice(dec!(20)).await;
    let (v, d) = (voided.id.unwrap(), deleted.id.unwrap());
    w.quickbooks.void_invoice(US_REALM, &v).unwrap();
    w.quickbooks.delete_invoice(US_REALM, &d).unwrap();
    w.clear_qb_log();
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(row(&r, &v)["status"], "voided");
    assert_eq!(
        dec_of(&row(&r, &v)["total"]),
        dec!(500),
        "the original total"
    );
    assert_eq!(dec_of(&row(&r, &v)["balance"]), dec!(0));
    assert_eq!(row(&r, &d)["status"], "deleted");
    assert_eq!(row(&r, kept.id.as_deref().unwrap())["status"], "open");
    let summary = &r.json["summary"][0];
    assert_eq!(summary["invoices"], 1, "voided and deleted are not counted");
    assert_eq!(dec_of(&summary["outstanding"]), dec!(20));
    // One query for all three, one read confirming the missing one is deleted.
    let calls = w.qb_calls(US_REALM);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].1.ends_with("/query"));
    assert!(calls[1].1.ends_with(&format!("/invoice/{d}")));
    assert_eq!(
        w.stored_link(COMPANY_A, DEAL, &d).await.unwrap().status,
        InvoiceStatus::Deleted
    );
}

#[tokio::test]
async fn void_without_confirmation_changes_nothing() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let before = w.dump(COMPANY_A).await;
    let in_qb = w.qb_invoice(US_REALM, &id);
    w.clear_qb_log();
    for body in [None, Some(json!({})), Some(json!({"confirm": false}))] {
        let r = w.a("POST", &format!("/invoices/{id}/void"), body).await;
        assert_eq!(r.status, 422, "{}", r.json);
        assert_eq!(r.header("content-type"), "application/problem+json");
        assert_eq!(r.json["errors"][0]["field"], "confirm");
        assert!(r.detail().contains("cannot be undone"), "{}", r.detail());
    }
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/void"),
            Some(json!({"confirm": "yes"})),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/delete"),
            Some(json!({"sure": true})),
        )
        .await;
    assert_eq!(r.status, 422, "unknown fields are refused");
    let r = w.a("POST", &format!("/invoices/{id}/delete"), None).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["field"], "confirm");
    assert!(
        w.qb_calls(US_REALM).is_empty(),
        "nothing sent to QuickBooks"
    );
    assert_eq!(w.dump(COMPANY_A).await, before, "the store is unchanged");
    assert_eq!(
        w.qb_invoice(US_REALM, &id),
        in_qb,
        "QuickBooks is unchanged"
    );
}

#[tokio::test]
async fn void_of_a_paid_or_partially_paid_invoice_is_refused() {
    let w = standard().await;
    let (paid, _) = w.acme_invoice(dec!(500)).await;
    let (partly, _) = w.acme_invoice(dec!(400)).await;
    let (paid, partly) = (paid.id.unwrap(), partly.id.unwrap());
    w.quickbooks.record_payment(US_REALM, &paid, None).unwrap();
    w.quickbooks
        .record_payment(US_REALM, &partly, Some(dec!(150)))
        .unwrap();
    w.a("POST", "/invoices/refresh", None).await;
    let before = w.dump(COMPANY_A).await;
    let qb_before = (
        w.qb_invoice(US_REALM, &paid),
        w.qb_invoice(US_REALM, &partly),
    );
    w.clear_qb_log();
    let r = w
        .a(
            "POST",
            &format!("/invoices/{paid}/void"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.json);
    assert!(r.detail().contains("cannot be voided"), "{}", r.detail());
    assert!(
        r.detail()
            .contains("500.00 USD of 500.00 USD has been paid"),
        "{}",
        r.detail()
    );
    assert_eq!(r.json["current"]["status"], "paid");
    let r = w
        .a(
            "POST",
            &format!("/invoices/{partly}/void"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(
        r.detail().contains("150.00 USD of 400.00 USD"),
        "{}",
        r.detail()
    );
    let r = w
        .a(
            "POST",
            &format!("/invoices/{partly}/delete"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.detail().contains("payments"), "{}", r.detail());
    assert_eq!(posts(&w), 0, "no write reached QuickBooks");
    assert_eq!(w.dump(COMPANY_A).await, before, "the store is unchanged");
    assert_eq!(
        (
            w.qb_invoice(US_REALM, &paid),
            w.qb_invoice(US_REALM, &partly)
        ),
        qb_before
    );
}

#[tokio::test]
async fn send_to_an_invalid_address_is_refused() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let before = w.dump(COMPANY_A).await;
    let in_qb = w.qb_invoice(US_REALM, &id);
    w.clear_qb_log();
    for bad in [
        "not-an-email",
        "a@b",
        "one@x.com, two@y.com",
        "",
        "Name <a@b.com>",
    ] {
        let r = w
            .a(
                "POST",
                &format!("/invoices/{id}/send"),
                Some(json!({"to": bad})),
            )
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.json);
        assert_eq!(r.json["errors"][0]["field"], "to");
        assert!(
            r.detail().contains("not a valid e-mail address"),
            "{}",
            r.detail()
        );
    }
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/send"),
            Some(json!({"to": 42})),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(w.qb_calls(US_REALM).is_empty());
    assert_eq!(w.dump(COMPANY_A).await, before);
    let after = w.qb_invoice(US_REALM, &id);
    assert_eq!(after, in_qb);
    assert_ne!(after.email_status, Some(EmailStatus::EmailSent));
}

#[tokio::test]
async fn send_uses_the_billing_email_or_asks_for_one() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let r = w.a("POST", &format!("/invoices/{id}/send"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("ap@acme.example")
    );
    assert_eq!(
        w.qb_invoice(US_REALM, &id).email_status,
        Some(EmailStatus::EmailSent)
    );
    // A customer without an e-mail address.
    let customer = w
        .quickbooks
        .create_customer(
            US_REALM,
            &Customer {
                display_name: Some("No Mail Ltd".into()),
                currency_ref: Some(Ref::new("USD")),
                ..Customer::default()
            },
        )
        .unwrap();
    let invoice = w
        .create_invoice(US_REALM, customer.id.as_deref().unwrap(), dec!(10))
        .await;
    let id = invoice.id.clone().unwrap();
    w.link(COMPANY_A, DEAL, US_REALM, &invoice).await;
    let before = w.dump(COMPANY_A).await;
    let r = w.a("POST", &format!("/invoices/{id}/send"), None).await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.json["errors"][0]["field"], "to");
    assert!(r.detail().contains("no billing e-mail"), "{}", r.detail());
    assert_eq!(w.dump(COMPANY_A).await, before);
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/send"),
            Some(json!({"to": "owner@nomail.example"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        bill_email(&w.qb_invoice(US_REALM, &id)).as_deref(),
        Some("owner@nomail.example")
    );
}

#[tokio::test]
async fn the_pdf_of_a_deleted_invoice_is_a_clear_404() {
    let w = standard().await;
    // Deleted through the panel: the link knows.
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/delete"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 200);
    let before = w.dump(COMPANY_A).await;
    w.clear_qb_log();
    let r = w.a("GET", &format!("/invoices/{id}/pdf"), None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), "application/problem+json");
    assert!(
        r.detail().contains("was deleted in QuickBooks"),
        "{}",
        r.detail()
    );
    assert!(r.detail().contains("no PDF"), "{}", r.detail());
    assert!(w.qb_calls(US_REALM).is_empty());
    assert_eq!(w.dump(COMPANY_A).await, before);
    let r = w.a("GET", &format!("/invoices/{id}/open"), None).await;
    assert_eq!(r.status, 404);

    // Deleted in QuickBooks' UI, unknown to the link: QuickBooks says so, and the link learns.
    let (invoice, _) = w.acme_invoice(dec!(70)).await;
    let id = invoice.id.unwrap();
    w.quickbooks.delete_invoice(US_REALM, &id).unwrap();
    let r = w.a("GET", &format!("/invoices/{id}/pdf"), None).await;
    assert_eq!(r.status, 404, "{}", r.json);
    assert!(r.detail().contains("was deleted in QuickBooks"));
    assert_eq!(
        w.stored_link(COMPANY_A, DEAL, &id).await.unwrap().status,
        InvoiceStatus::Deleted
    );
}

#[tokio::test]
async fn another_companys_invoice_or_one_not_linked_to_the_deal_is_404() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let a_before = w.dump(COMPANY_A).await;
    let b_before = w.dump(COMPANY_B).await;
    let qb_before = w.qb_invoice(US_REALM, &id);
    w.clear_qb_log();
    let confirm = Some(json!({"confirm": true}));
    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", format!("/invoices/{id}/void"), confirm.clone()),
        ("POST", format!("/invoices/{id}/delete"), confirm.clone()),
        (
            "POST",
            format!("/invoices/{id}/send"),
            Some(json!({"to": "x@y.example"})),
        ),
        ("GET", format!("/invoices/{id}/pdf"), None),
        ("GET", format!("/invoices/{id}/open"), None),
        ("DELETE", format!("/invoice-links/{id}"), None),
    ];
    for (method, path, body) in &attempts {
        // Company B has a deal 1 too: it is not A's deal 1.
        let r = w
            .call(
                method,
                &format!("/api/deals/1{path}"),
                (COMPANY_B, USER_B_ADMIN),
                body.as_ref(),
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{method} {path} as company B: {}", r.json);
        assert!(
            r.detail().contains("not linked to deal 1"),
            "{}",
            r.detail()
        );
        // Company A's own other deal.
        let r = w
            .call(
                method,
                &format!("/api/deals/{OTHER_DEAL}{path}"),
                (COMPANY_A, USER_A_ADMIN),
                body.as_ref(),
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{method} {path} on another deal: {}", r.json);
    }
    // Linking A's invoice to B's deal: B's customer is in another realm, A's invoice id means
    // nothing there.
    let r = w
        .call(
            "PUT",
            &format!("/api/deals/1/invoice-links/{id}"),
            (COMPANY_B, USER_B_ADMIN),
            None,
            None,
        )
        .await;
    assert_ne!(r.status, 201, "{}", r.json);
    assert!(r.status == 404 || r.status == 409, "{}", r.json);
    assert_eq!(w.dump(COMPANY_A).await, a_before);
    assert_eq!(w.dump(COMPANY_B).await, b_before);
    assert_eq!(w.qb_invoice(US_REALM, &id), qb_before);
    assert!(
        w.qb_calls(US_REALM).is_empty(),
        "A's realm was never called"
    );
}

#[tokio::test]
async fn access_follows_the_company_setting() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let member = |path: String| {
        let w = &w;
        async move {
            w.call(
                "GET",
                &format!("/api/deals/1{path}"),
                (COMPANY_A, USER_A_MEMBER),
                None,
                None,
            )
            .await
        }
    };
    assert_eq!(
        member("/invoices".into()).await.status,
        200,
        "every installed user by default"
    );
    let mut profile = w.profile(COMPANY_A).await;
    profile.settings.access = AccessPolicy::ConnectedUserOnly;
    w.app.records.save_company(&profile).await.unwrap();
    for path in [
        "/invoices".to_string(),
        format!("/invoices/{id}/open"),
        "/activity".into(),
    ] {
        let r = member(path.clone()).await;
        assert_eq!(r.status, 403, "{path}");
        assert!(
            r.detail()
                .contains("only the user who connected QuickBooks"),
            "{}",
            r.detail()
        );
    }
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.status, 200, "the user who connected");
    // Not installed at all.
    let r = w
        .call(
            "GET",
            "/api/deals/1/invoices",
            (COMPANY_A, USER_A_MEMBER_2),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    // No token.
    let r = w
        .http
        .get(format!("{}/api/deals/1/invoices", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_disconnected_company_still_sees_its_invoices_and_is_told_to_connect() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let mut profile = w.profile(COMPANY_A).await;
    if let Some(c) = profile.quickbooks.as_mut() {
        c.state = ConnectionState::Disconnected;
    }
    let mut profile = w.app.records.save_company(&profile).await.unwrap();
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["connection"]["state"], "disconnected");
    assert_eq!(r.json["invoices"].as_array().unwrap().len(), 1);
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 409);
    assert!(r.detail().contains("Connect QuickBooks"), "{}", r.detail());
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/void"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 409);
    // Needs reconnect: the problem carries the reconnect link.
    if let Some(c) = profile.quickbooks.as_mut() {
        c.state = ConnectionState::NeedsReconnect;
        c.reason = Some("revoked in QuickBooks".into());
    }
    w.app.records.save_company(&profile).await.unwrap();
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.json["connection"]["state"], "needs_reconnect");
    assert_eq!(r.json["connection"]["reason"], "revoked in QuickBooks");
    let r = w.a("POST", "/invoices/refresh", None).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json["type"],
        "urn:pipedrive-quickbooks:problem:quickbooks-reconnect-required"
    );
    assert!(
        r.json["reconnect_url"]
            .as_str()
            .unwrap()
            .contains("/settings/marketplace/app/")
    );
}

/// A QuickBooks simulator behind a layer that, before the first `times` void or delete calls,
/// changes the invoice "in the UI" (a new SyncToken), so QuickBooks answers 5010.
async fn world_with_concurrent_edits(times: u32) -> (World, Arc<Mutex<Option<String>>>) {
    let target: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let remaining = Arc::new(Mutex::new(times));
    let target2 = target.clone();
    let edits = move |sim: &sandbox::quickbooks::QuickBooksSim, router: axum::Router| {
        let sim2 = sim.clone();
        router.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let (sim, target, remaining) = (sim2.clone(), target2.clone(), remaining.clone());
                async move {
                    let write = request.method() == "POST"
                        && request.uri().query().is_some_and(|q| {
                            q.contains("operation=void") || q.contains("operation=delete")
                        });
                    let id = target.lock().unwrap().clone();
                    if write && let Some(id) = id {
                        let mut left = remaining.lock().unwrap();
                        if *left > 0 {
                            *left -= 1;
                            let invoice = sim.invoice(US_REALM, &id).unwrap();
                            let due = invoice
                                .due_date
                                .unwrap()
                                .checked_add_days(Days::new(1))
                                .unwrap();
                            sim.set_due_date(US_REALM, &id, due).unwrap();
                        }
                    }
                    next.run(request).await
                }
            },
        ))
    };
    let w = standard_on(world().quickbooks_layer(edits).start().await).await;
    (w, target)
}

/// Acme's invoice of 500 in a [`world_with_concurrent_edits`] that targets it, the QuickBooks
/// log cleared.
async fn invoice_edited_concurrently(times: u32) -> (World, String) {
    let (w, target) = world_with_concurrent_edits(times).await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    *target.lock().unwrap() = Some(id.clone());
    w.clear_qb_log();
    (w, id)
}

#[tokio::test]
async fn a_stale_sync_token_is_re_read_and_retried_once() {
    let (w, id) = invoice_edited_concurrently(1).await;
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/void"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let calls: Vec<(String, u16)> = w
        .quickbooks
        .harness()
        .requests()
        .into_iter()
        .map(|r| {
            (
                format!("{} {}", r.method, r.path.rsplit('/').next().unwrap()),
                r.status,
            )
        })
        .collect();
    let id_call = format!("GET {id}");
    assert_eq!(
        calls,
        vec![
            (id_call.clone(), 200),
            ("POST invoice".to_string(), 400),
            (id_call, 200),
            ("POST invoice".to_string(), 200),
        ],
        "read, stale void, re-read, void"
    );
    let in_qb = w.qb_invoice(US_REALM, &id);
    assert_eq!(in_qb.total_amt, Some(Decimal::ZERO));
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert_eq!(stored.status, InvoiceStatus::Voided);
    assert_eq!(stored.sync_token, in_qb.sync_token);
}

#[tokio::test]
async fn a_second_stale_answer_is_reported_not_retried_forever() {
    let (w, id) = invoice_edited_concurrently(5).await;
    let r = w
        .a(
            "POST",
            &format!("/invoices/{id}/delete"),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.json);
    assert!(r.detail().contains("Stale Object"), "{}", r.detail());
    assert_eq!(posts(&w), 2, "one retry");
    assert!(w.quickbooks.invoice(US_REALM, &id).is_ok(), "not deleted");
    let stored = w.stored_link(COMPANY_A, DEAL, &id).await.unwrap();
    assert_eq!(stored.status, InvoiceStatus::Open);
    let log = w.activity(COMPANY_A, DEAL).await;
    assert_eq!(log[0].kind, "invoice.delete_failed");
    assert!(
        log[0].message.contains("Stale Object"),
        "{}",
        log[0].message
    );
    assert!(
        log[0].intuit_tid.is_some(),
        "QuickBooks' transaction id is kept for support"
    );
}

#[tokio::test]
async fn all_invoices_of_the_customer_paginate_and_show_which_are_linked() {
    let w = standard().await;
    let t = today(&w);
    let ago = |days: u64| t.checked_sub_days(Days::new(days)).unwrap();
    let mut by_age = Vec::new();
    for days in [10, 20, 30, 40, 400] {
        let invoice = w
            .create_invoice_with(
                US_REALM,
                ACME,
                Decimal::from(days),
                Some(ago(days)),
                Some(t),
            )
            .await;
        by_age.push(invoice.id.unwrap());
    }
    let linked = w.qb_invoice(US_REALM, &by_age[1]);
    w.link(COMPANY_A, DEAL, US_REALM, &linked).await;
    w.create_invoice_with(US_REALM, AMY, dec!(99), Some(ago(15)), Some(t))
        .await;
    w.clear_qb_log();
    let from = ago(60);
    let r = w
        .a(
            "GET",
            &format!("/customer-invoices?from={from}&to={t}&limit=3"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["customer"]["customer_id"], ACME);
    assert_eq!(r.json["customer"]["party"], "organization");
    let ids: Vec<&str> = r.json["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invoice_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![by_age[0].as_str(), by_age[1].as_str(), by_age[2].as_str()],
        "newest first"
    );
    let linked_flags: Vec<bool> = r.json["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["linked"].as_bool().unwrap())
        .collect();
    assert_eq!(linked_flags, vec![false, true, false]);
    assert_eq!(r.json["next_cursor"], "4");
    let r2 = w
        .a(
            "GET",
            &format!("/customer-invoices?from={from}&to={t}&limit=3&cursor=4"),
            None,
        )
        .await;
    assert_eq!(r2.status, 200);
    let ids: Vec<&str> = r2.json["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invoice_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![by_age[3].as_str()]);
    assert!(r2.json.get("next_cursor").is_none(), "the last page");
    let queries = w.qb_calls(US_REALM);
    assert_eq!(queries.len(), 2, "one query per page: {queries:?}");
    let statements: Vec<String> = w
        .quickbooks
        .harness()
        .requests()
        .into_iter()
        .filter_map(|r| r.query)
        .collect();
    assert!(
        statements[0].contains("STARTPOSITION+1+MAXRESULTS+4"),
        "{}",
        statements[0]
    );
    assert!(
        statements[1].contains("STARTPOSITION+4+MAXRESULTS+4"),
        "{}",
        statements[1]
    );
    // The default time frame is the last year.
    let r = w.a("GET", "/customer-invoices?limit=100", None).await;
    assert_eq!(r.json["invoices"].as_array().unwrap().len(), 4);
    // Bad input is a 400 and never reaches QuickBooks.
    w.clear_qb_log();
    for bad in [
        "limit=5000",
        "limit=0",
        "cursor=-1",
        "cursor=abc",
        "from=2026-02-30",
        "from=2026-03-02&to=2026-03-01",
    ] {
        let r = w.a("GET", &format!("/customer-invoices?{bad}"), None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.json);
        assert_eq!(r.header("content-type"), "application/problem+json");
    }
    assert!(w.qb_calls(US_REALM).is_empty());
    // Company B sees its own customer's invoices, in its own realm.
    let gb = w.create_invoice(GB_REALM, OBRIEN_GB, dec!(10)).await;
    let r = w
        .call(
            "GET",
            "/api/deals/1/customer-invoices",
            (COMPANY_B, USER_B_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["invoices"][0]["invoice_id"], gb.id.unwrap().as_str());
    // A deal whose organization and person are not linked: no customer, no QuickBooks call.
    w.clear_qb_log();
    let r = w
        .call(
            "GET",
            &format!("/api/deals/{OTHER_DEAL}/customer-invoices"),
            (COMPANY_A, USER_A_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["customer"], Value::Null);
    assert!(w.qb_calls(US_REALM).is_empty());
    // A deal Pipedrive does not have.
    let r = w
        .call(
            "GET",
            "/api/deals/999/customer-invoices",
            (COMPANY_A, USER_A_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.json);
}

#[tokio::test]
async fn linking_and_unlinking_invoices_of_the_customer() {
    let w = standard().await;
    let acme = w.create_invoice(US_REALM, ACME, dec!(75)).await;
    let amy = w.create_invoice(US_REALM, AMY, dec!(50)).await;
    let (acme, amy) = (acme.id.unwrap(), amy.id.unwrap());
    let r = w.a("PUT", &format!("/invoice-links/{acme}"), None).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["invoice"]["status"], "open");
    // Twice, and concurrently: still one link.
    let path = format!("/invoice-links/{acme}");
    let (x, y) = futures::join!(w.a("PUT", &path, None), w.a("PUT", &path, None));
    assert_eq!((x.status, y.status), (200, 200));
    let links = w
        .app
        .records
        .all_deal_invoice_links(CompanyId(COMPANY_A), shared::domain::DealId(DEAL))
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    let linked_events = w
        .activity(COMPANY_A, DEAL)
        .await
        .iter()
        .filter(|e| e.kind == "invoice.linked")
        .count();
    assert_eq!(linked_events, 1);
    // Refusals change nothing.
    let before = w.dump(COMPANY_A).await;
    let r = w.a("PUT", &format!("/invoice-links/{amy}"), None).await;
    assert_eq!(r.status, 409, "{}", r.json);
    assert!(
        r.detail().contains("another QuickBooks customer"),
        "{}",
        r.detail()
    );
    assert!(
        r.detail().contains("Amy's Bird Sanctuary"),
        "{}",
        r.detail()
    );
    let r = w.a("PUT", "/invoice-links/987654", None).await;
    assert_eq!(r.status, 404);
    assert!(
        r.detail().contains("QuickBooks has no invoice"),
        "{}",
        r.detail()
    );
    let r = w.a("PUT", "/invoice-links/12ab", None).await;
    assert_eq!(r.status, 400);
    let r = w
        .call(
            "PUT",
            &format!("/api/deals/{OTHER_DEAL}/invoice-links/{acme}"),
            (COMPANY_A, USER_A_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(
        r.detail().contains("not linked to a QuickBooks customer"),
        "{}",
        r.detail()
    );
    assert_eq!(w.dump(COMPANY_A).await, before);
    // Unlink: the invoice stays in QuickBooks.
    let r = w.a("DELETE", &format!("/invoice-links/{acme}"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("stays in QuickBooks")
    );
    assert!(w.stored_link(COMPANY_A, DEAL, &acme).await.is_none());
    assert!(w.quickbooks.invoice(US_REALM, &acme).is_ok());
    let r = w.a("DELETE", &format!("/invoice-links/{acme}"), None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn disconnecting_the_customer_link() {
    let w = standard().await;
    w.seed_customer_link(
        COMPANY_A,
        Party::Person(1),
        US_REALM,
        AMY,
        "Amy's Bird Sanctuary",
    )
    .await;
    // Another company's links are not touched.
    let b_before = w.dump(COMPANY_B).await;
    let r = w.a("DELETE", "/customer-link", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let removed = r.json["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(removed[0]["party"], "organization");
    assert_eq!(removed[1]["party"], "person");
    for party in [Party::Organization(1), Party::Person(1)] {
        assert!(
            w.app
                .records
                .get_customer_link(CompanyId(COMPANY_A), party)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(w.dump(COMPANY_B).await, b_before);
    let r = w.a("DELETE", "/customer-link", None).await;
    assert_eq!(r.status, 404);
    assert!(
        r.detail()
            .contains("Neither the deal's organization nor its person"),
        "{}",
        r.detail()
    );
    let log = w.activity(COMPANY_A, DEAL).await;
    assert_eq!(log[0].kind, "customer.unlinked");
}

#[tokio::test]
async fn the_activity_log_is_newest_first_bounded_and_per_company() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    w.a("GET", &format!("/invoices/{id}/open"), None).await;
    w.a("POST", &format!("/invoices/{id}/send"), None).await;
    let r = w.a("GET", "/activity", None).await;
    assert_eq!(r.status, 200);
    let events = r.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["kind"], "invoice.sent");
    assert_eq!(events[0]["outcome"], "succeeded");
    assert_eq!(events[0]["invoice_id"], id.as_str());
    assert_eq!(events[0]["user_id"], USER_A_ADMIN);
    assert_eq!(events[1]["kind"], "invoice.opened");
    let r = w.a("GET", "/activity?limit=1", None).await;
    assert_eq!(r.json["events"].as_array().unwrap().len(), 1);
    for bad in ["limit=0", "limit=201", "limit=many"] {
        let r = w.a("GET", &format!("/activity?{bad}"), None).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = w
        .call(
            "GET",
            "/api/deals/1/activity",
            (COMPANY_B, USER_B_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.json["events"], json!([]));
}

#[tokio::test]
async fn malformed_requests_are_problems() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(5)).await;
    let id = invoice.id.unwrap();
    let r = w
        .call(
            "GET",
            "/api/deals/abc/invoices",
            (COMPANY_A, USER_A_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = w
        .request_as(
            "POST",
            &format!("/api/deals/1/invoices/{id}/void"),
            (COMPANY_A, USER_A_ADMIN),
        )
        .header("content-type", "text/plain")
        .body("confirm=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = w
        .request_as(
            "POST",
            &format!("/api/deals/1/invoices/{id}/void"),
            (COMPANY_A, USER_A_ADMIN),
        )
        .header("content-type", "application/json")
        .body("{\"confirm\": tru")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = w.a("GET", "/invoices/1/nope", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), "application/problem+json");
    let r = w.a("DELETE", "/invoices", None).await;
    assert_eq!(r.status, 405);
}

/// A deal with nothing of ours stored is looked up in the caller's Pipedrive: an id the caller's
/// company does not have is a 404 on the list, the refresh and the activity log (not an empty
/// answer), an existing deal answers empty and its parties are remembered for the create form,
/// and Pipedrive failing does not break the panel.
#[tokio::test]
async fn a_deal_without_invoices_is_confirmed_in_pipedrive() {
    let w = standard().await;
    let unknown = 987_654;
    for (method, suffix) in [
        ("GET", "/invoices"),
        ("POST", "/invoices/refresh"),
        ("GET", "/activity"),
    ] {
        let r = w
            .call(
                method,
                &format!("/api/deals/{unknown}{suffix}"),
                (COMPANY_A, USER_A_ADMIN),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{method} {suffix}: {}", r.json);
        assert!(
            r.detail().contains(&format!("no deal {unknown}")),
            "{}",
            r.detail()
        );
    }
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["invoices"], json!([]));
    let remembered = w
        .app
        .records
        .get_deal_parties(CompanyId(COMPANY_A), shared::domain::DealId(DEAL))
        .await
        .unwrap()
        .expect("the deal's parties are remembered");
    assert!(remembered.org_id.is_some() || remembered.person_id.is_some());

    // Pipedrive down: the (empty) list from the store stands.
    w.pipedrive.harness().set_fault(
        "/api/v2/deals",
        sandbox::harness::FaultSpec {
            error_rate: 1.0,
            ..Default::default()
        },
    );
    let r = w.a("GET", "/invoices", None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["invoices"], json!([]));
    w.pipedrive.harness().clear_faults();
}
