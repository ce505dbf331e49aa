//! Estimates (issue 22) against the simulators, through every function that touches them: the
//! create (invoice-create, the same draft as an invoice), the list and the actions
//! (invoice-actions), the webhook and the scheduled sync.

use integration_tests::{entity_webhook, full_world, scheduled_sync};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::wire::quickbooks::model::{Invoice, Line, LinkedTxn, Ref, TxnStatus};
use test_world::{COMPANY_A, COMPANY_B, GB_REALM, US_REALM, USER_A_ADMIN, USER_B_ADMIN};

const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

fn money(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

fn kinds(log: &[shared::domain::ActivityEvent], kind: &str) -> usize {
    log.iter().filter(|e| e.kind == kind).count()
}

#[tokio::test]
async fn a_us_estimate_is_created_sent_and_accepted_in_quickbooks_seen_by_the_webhook() {
    let w = full_world().start().await;
    let form = w.us_deal_ready().await;
    let created = w.create_estimate(B, 1, &form, "estimate-us-1").await;
    let id = created["estimate"]["estimate_id"]
        .as_str()
        .unwrap()
        .to_string();
    // In QuickBooks: an estimate of the invoice draft's lines and total, expiring in 30 days.
    let qb = w.quickbooks.estimate(US_REALM, &id).unwrap();
    assert_eq!(qb.txn_status, Some(TxnStatus::Pending));
    assert_eq!(
        money(&created["preview"]["total"]),
        qb.sale.total_amt.unwrap(),
        "the app's total is QuickBooks'"
    );
    let txn = qb.sale.txn_date.unwrap();
    assert_eq!(qb.expiration_date, Some(txn + chrono::Days::new(30)));
    assert!(qb.sale.due_date.is_none() && qb.sale.balance.is_none());
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        0,
        "no invoice"
    );
    assert_eq!(w.pipedrive.notes().len(), 1, "one note on the deal");
    assert!(w.pipedrive.notes()[0].note.content.contains("estimate #"));

    let list = w.deal_estimates(B, 1).await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["email_sent"].as_bool()),
        (Some("pending"), Some(false))
    );

    // Sent by QuickBooks; the PDF.
    let (status, sent) = w
        .call_json(
            "POST",
            &format!("/api/deals/1/estimates/{id}/send"),
            B,
            Some(&json!({"to": "buyer@bolt-freight.example"})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["estimate"]["email_sent"], true);
    let pdf = w
        .call(
            "GET",
            &format!("/api/deals/1/estimates/{id}/pdf"),
            B,
            None,
            None,
        )
        .await;
    assert_eq!(pdf.status, 200, "{}", pdf.text);
    assert!(pdf.text.starts_with("%PDF"));

    // The customer accepts; it is entered in QuickBooks; the webhook tells the app.
    w.quickbooks
        .set_estimate_status(US_REALM, &id, TxnStatus::Accepted, Some("Riley"))
        .unwrap();
    entity_webhook(&w, US_REALM, "Estimate", &id, "Update", 1).await;
    let list = w.deal_estimates(B, 1).await;
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["accepted_by"].as_str()),
        (Some("accepted"), Some("Riley"))
    );
    let log = w.activity(COMPANY_B, 1).await;
    assert_eq!(kinds(&log, "estimate.created"), 1, "{log:#?}");
    assert_eq!(kinds(&log, "estimate.sent"), 1, "{log:#?}");
    assert_eq!(kinds(&log, "estimate.pdf_downloaded"), 1, "{log:#?}");
    assert_eq!(kinds(&log, "estimate.status_changed"), 1, "{log:#?}");
    // The same delivery's news again, by another delivery: nothing more.
    entity_webhook(&w, US_REALM, "Estimate", &id, "Update", 2).await;
    assert_eq!(
        kinds(&w.activity(COMPANY_B, 1).await, "estimate.status_changed"),
        1
    );
}

#[tokio::test]
async fn a_non_us_estimate_accepted_in_quickbooks_is_seen_by_the_one_sync_call_then_rejected_from_the_panel()
 {
    let w = full_world().start().await;
    let form = w.gb_deal_ready().await;
    let created = w.create_estimate(A, 2, &form, "estimate-gb-1").await;
    let id = created["estimate"]["estimate_id"]
        .as_str()
        .unwrap()
        .to_string();
    let qb = w.quickbooks.estimate(GB_REALM, &id).unwrap();
    assert!(
        qb.sale.global_tax_calculation.is_some(),
        "VAT: the draft's tax mode"
    );
    assert_eq!(
        money(&created["preview"]["total"]),
        qb.sale.total_amt.unwrap()
    );

    w.quickbooks
        .set_estimate_status(GB_REALM, &id, TxnStatus::Accepted, None)
        .unwrap();
    w.advance(60);
    w.quickbooks.harness().clear_log();
    scheduled_sync(&w).await;
    let calls = w.qb_calls(GB_REALM);
    assert_eq!(
        calls.len(),
        1,
        "one QuickBooks call for the company: {calls:?}"
    );
    let cdc = &w.api_calls(GB_REALM)[0];
    assert!(
        cdc.path.ends_with("/cdc") && cdc.query.as_deref().unwrap_or("").contains("Estimate"),
        "{cdc:?}"
    );
    assert_eq!(w.deal_estimates(A, 2).await[0]["status"], "accepted");

    // The rep records the customer's change of mind: a sparse update at the SyncToken.
    let (status, answer) = w
        .call_json(
            "POST",
            &format!("/api/deals/2/estimates/{id}/answer"),
            A,
            Some(&json!({"answer": "rejected"})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["estimate"]["status"], "rejected");
    let qb = w.quickbooks.estimate(GB_REALM, &id).unwrap();
    assert_eq!(qb.txn_status, Some(TxnStatus::Rejected));
    let posts: Vec<_> = w
        .api_calls(GB_REALM)
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/estimate"))
        .collect();
    let body: Value = serde_json::from_str(&posts.last().unwrap().body).unwrap();
    assert_eq!(
        (body["sparse"].as_bool(), body["TxnStatus"].as_str()),
        (Some(true), Some("Rejected"))
    );
    // Again: already so, nothing sent.
    let before = w.api_calls(GB_REALM).len();
    let (status, again) = w
        .call_json(
            "POST",
            &format!("/api/deals/2/estimates/{id}/answer"),
            A,
            Some(&json!({"answer": "rejected"})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert!(
        w.api_calls(GB_REALM)[before..]
            .iter()
            .all(|c| c.method == "GET")
    );
    assert_eq!(
        kinds(&w.activity(COMPANY_A, 2).await, "estimate.answered"),
        1
    );
}

#[tokio::test]
async fn an_estimate_past_its_expiration_date_is_expired_and_a_converted_one_is_closed() {
    let w = full_world().start().await;
    let form = w.us_deal_ready().await;
    let created = w.create_estimate(B, 1, &form, "estimate-expiry").await;
    let id = created["estimate"]["estimate_id"]
        .as_str()
        .unwrap()
        .to_string();
    w.advance(31 * 24 * 3600);
    assert_eq!(w.deal_estimates(B, 1).await[0]["status"], "expired");
    assert_eq!(
        w.quickbooks.estimate(US_REALM, &id).unwrap().txn_status,
        Some(TxnStatus::Pending)
    );

    // Converted in QuickBooks (an invoice made from it): Closed, its answer can no longer change.
    let invoice = Invoice {
        customer_ref: Some(Ref::new("3")),
        currency_ref: Some(Ref::new("USD")),
        linked_txn: Some(vec![LinkedTxn {
            txn_id: id.clone(),
            txn_type: "Estimate".into(),
            txn_line_id: None,
        }]),
        line: Some(vec![Line::sales_item(
            Ref::new("2"),
            Decimal::ONE,
            Decimal::TEN,
        )]),
        ..Invoice::default()
    };
    w.app
        .quickbooks
        .create_invoice(US_REALM, &w.qb_token(US_REALM), &invoice, "convert-1")
        .await
        .unwrap();
    scheduled_sync(&w).await;
    let list = w.deal_estimates(B, 1).await;
    assert_eq!(list[0]["status"], "closed");
    assert_eq!(list[0]["invoice_ids"].as_array().unwrap().len(), 1);
    let (status, refused) = w
        .call_json(
            "POST",
            &format!("/api/deals/1/estimates/{id}/answer"),
            B,
            Some(&json!({"answer": "rejected"})),
            None,
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("converted"),
        "{refused}"
    );

    // Deleted from the panel: gone from QuickBooks, the link says so.
    let (status, deleted) = w
        .call_json(
            "POST",
            &format!("/api/deals/1/estimates/{id}/delete"),
            B,
            Some(&json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["estimate"]["status"], "deleted");
    assert!(w.quickbooks.estimate(US_REALM, &id).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_with_one_key_make_one_estimate() {
    let w = full_world().start().await;
    let form = w.us_deal_ready().await;
    w.quickbooks.harness().set_latency_ms(50);
    w.caller
        .same_post_at_once(
            20,
            "/api/deals/1/estimates",
            B,
            Some(&form),
            "same-estimate-key",
        )
        .await;
    assert_eq!(
        w.quickbooks.estimates(US_REALM).unwrap().len(),
        1,
        "one estimate in QuickBooks"
    );
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#ESTIMATE#").await.len(),
        1,
        "one link"
    );
    assert_eq!(w.pipedrive.notes().len(), 1, "one note");
    // The same key for an invoice is not this estimate's answer.
    let (status, _) = w
        .call_json(
            "POST",
            "/api/deals/1/invoices",
            B,
            Some(&form),
            Some("same-estimate-key"),
        )
        .await;
    assert_ne!(status, 201);
    assert!(w.quickbooks.invoices(US_REALM).unwrap().is_empty());
}

#[tokio::test]
async fn a_crash_between_quickbooks_and_the_link_write_is_finished_by_the_retry() {
    let w = full_world().start().await;
    let form = w.us_deal_ready().await;
    w.store.fail_writes("#ESTIMATE#", 1);
    let (status, problem) = w
        .call_json(
            "POST",
            "/api/deals/1/estimates",
            B,
            Some(&form),
            Some("estimate-crash"),
        )
        .await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(
        w.quickbooks.estimates(US_REALM).unwrap().len(),
        1,
        "QuickBooks created it"
    );
    assert!(
        w.keys(COMPANY_B, "DEAL#1#ESTIMATE#").await.is_empty(),
        "the link write crashed"
    );
    let created = w.create_estimate(B, 1, &form, "estimate-crash").await;
    let estimates = w.quickbooks.estimates(US_REALM).unwrap();
    assert_eq!(estimates.len(), 1, "no duplicate");
    assert_eq!(created["estimate"]["estimate_id"], json!(estimates[0].id()));
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#ESTIMATE#").await.len(),
        1,
        "one link"
    );
    assert_eq!(w.pipedrive.notes().len(), 1);
    let posts: Vec<_> = w
        .api_calls(US_REALM)
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/estimate"))
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].query, posts[1].query, "the same requestid");
}

#[tokio::test]
async fn an_estimate_for_a_part_of_the_deal_is_refused_with_a_sentence() {
    let w = full_world().start().await;
    let mut form = w.us_deal_ready().await;
    form["part"] = json!({"kind": "percentage", "percent": "30"});
    let (status, problem) = w
        .call_json(
            "POST",
            "/api/deals/1/estimates",
            B,
            Some(&form),
            Some("estimate-part"),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], json!("part"), "{problem}");
    assert!(
        w.quickbooks.estimates(US_REALM).unwrap().is_empty(),
        "nothing sent to QuickBooks"
    );
    form.as_object_mut().unwrap().remove("part");
    let created = w.create_estimate(B, 1, &form, "estimate-whole").await;
    assert_eq!(w.quickbooks.estimates(US_REALM).unwrap().len(), 1);
    assert!(created["estimate"]["estimate_id"].is_string(), "{created}");
}

#[tokio::test]
async fn an_estimate_deleted_in_quickbooks_is_told_when_sent_or_downloaded() {
    let w = full_world().start().await;
    let form = w.us_deal_ready().await;
    let created = w.create_estimate(B, 1, &form, "deleted-in-qb").await;
    let id = created["estimate"]["estimate_id"]
        .as_str()
        .unwrap()
        .to_string();
    w.quickbooks.delete_estimate(US_REALM, &id).unwrap();

    for (method, path, then) in [
        (
            "POST",
            format!("/api/deals/1/estimates/{id}/send"),
            "it cannot be sent",
        ),
        (
            "GET",
            format!("/api/deals/1/estimates/{id}/pdf"),
            "there is no PDF to download",
        ),
    ] {
        let (status, problem) = w.call_json(method, &path, B, None, None).await;
        assert_eq!(status, 404, "{path}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("was deleted in QuickBooks") && detail.contains(then),
            "{detail}"
        );
    }
    // The link says so: the panel lists it deleted, without asking QuickBooks again.
    let listed = w.deal_estimates(B, 1).await;
    assert_eq!(listed[0]["status"], "deleted", "{listed:?}");
}
