//! Estimate -> invoice (issue 22) against the simulators: `POST
//! /api/deals/{deal_id}/estimates/{estimate_id}/invoice` (invoice-create) makes the invoice from an
//! accepted estimate once, links it on the deal, and the estimate shows Closed with its invoice.

use integration_tests::{entity_webhook, full_world};
use serde_json::{Value, json};
use shared::wire::quickbooks::model::{LinkedTxn, TxnStatus};
use test_world::{COMPANY_A, COMPANY_B, GB_REALM, US_REALM, USER_A_ADMIN, USER_B_ADMIN, World};

const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

/// Company B (US realm), deal 1 ready, with an estimate; its id.
async fn us_estimate(w: &World) -> String {
    let form = w.us_deal_ready().await;
    estimate_of(w, B, 1, &form, "estimate-to-invoice").await
}

async fn estimate_of(w: &World, who: (u64, u64), deal: u64, form: &Value, key: &str) -> String {
    let created = w.create_estimate(who, deal, form, key).await;
    created["estimate"]["estimate_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn convert(w: &World, who: (u64, u64), deal: u64, id: &str, key: &str) -> (u16, Value) {
    w.call_json(
        "POST",
        &format!("/api/deals/{deal}/estimates/{id}/invoice"),
        who,
        None,
        Some(key),
    )
    .await
}

async fn deal_invoice_ids(w: &World, who: (u64, u64), deal: u64) -> Vec<String> {
    let (status, list) = w
        .call_json(
            "GET",
            &format!("/api/deals/{deal}/invoices"),
            who,
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invoice_id"].as_str().unwrap().to_string())
        .collect()
}

fn kinds(log: &[shared::domain::ActivityEvent], kind: &str) -> usize {
    log.iter().filter(|e| e.kind == kind).count()
}

#[tokio::test]
async fn an_accepted_estimate_becomes_one_linked_invoice_and_the_estimate_closes() {
    let w = full_world().start().await;
    let id = us_estimate(&w).await;

    // Pending: refused with a sentence, nothing sent to QuickBooks.
    let (status, refused) = convert(&w, B, 1, &id, "convert-pending").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["type"]
            .as_str()
            .map(|t| t.ends_with("estimate-state")),
        Some(true),
        "{refused}"
    );
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("still pending") && detail.contains("accepted"),
        "{detail}"
    );
    assert!(w.quickbooks.invoices(US_REALM).unwrap().is_empty());

    // Accepted in QuickBooks: converted.
    w.quickbooks
        .set_estimate_status(US_REALM, &id, TxnStatus::Accepted, Some("Riley"))
        .unwrap();
    let estimate = w.quickbooks.estimate(US_REALM, &id).unwrap();
    let (status, converted) = convert(&w, B, 1, &id, "convert-1").await;
    assert_eq!(status, 201, "{converted}");
    let invoice_id = converted["invoice"]["id"].as_str().unwrap().to_string();
    let invoices = w.quickbooks.invoices(US_REALM).unwrap();
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(invoice.id.as_deref(), Some(invoice_id.as_str()));
    assert_eq!(
        invoice.linked_txn.as_deref(),
        Some(
            &[LinkedTxn {
                txn_id: id.clone(),
                txn_type: "Estimate".into(),
                txn_line_id: None
            }][..]
        ),
        "linked to the estimate"
    );
    assert_eq!(
        invoice.total_amt, estimate.sale.total_amt,
        "the estimate's total"
    );
    assert_eq!(invoice.customer_ref.as_ref().unwrap().value, "3");
    assert_eq!(invoice.currency_ref, estimate.sale.currency_ref);
    let sales = |lines: &Option<Vec<shared::wire::quickbooks::model::Line>>| {
        lines
            .iter()
            .flatten()
            .filter_map(|l| {
                l.sales_item_line_detail
                    .as_ref()
                    .map(|d| (d.item_ref.clone(), l.amount))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sales(&invoice.line),
        sales(&estimate.sale.line),
        "the estimate's lines"
    );
    assert_eq!(
        w.quickbooks.estimate(US_REALM, &id).unwrap().txn_status,
        Some(TxnStatus::Closed),
        "QuickBooks closed it"
    );
    assert!(
        converted["message"]
            .as_str()
            .unwrap()
            .contains("created from estimate"),
        "{converted}"
    );

    // On the deal: the invoice among its invoices, the estimate Closed with it.
    assert_eq!(deal_invoice_ids(&w, B, 1).await, vec![invoice_id.clone()]);
    let list = w.deal_estimates(B, 1).await;
    assert_eq!(list[0]["status"], "closed");
    assert_eq!(list[0]["invoice_ids"], json!([invoice_id]));
    let log = w.activity(COMPANY_B, 1).await;
    assert_eq!(kinds(&log, "invoice.created"), 1, "{log:#?}");
    assert_eq!(kinds(&log, "estimate.converted"), 1, "{log:#?}");
    assert_eq!(
        w.pipedrive.notes().len(),
        2,
        "the estimate's note, the invoice's"
    );

    // QuickBooks' news of the closed estimate (the webhook) keeps what the conversion recorded.
    entity_webhook(&w, US_REALM, "Estimate", &id, "Update", 1).await;
    let list = w.deal_estimates(B, 1).await;
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["invoice_ids"].clone()),
        (Some("closed"), json!([invoice_id]))
    );

    // The same key: the same answer. Another key: refused, with the invoice named.
    let (status, again) = convert(&w, B, 1, &id, "convert-1").await;
    assert_eq!((status, &again), (201, &converted));
    let (status, twice) = convert(&w, B, 1, &id, "convert-2").await;
    assert_eq!(status, 409, "{twice}");
    assert!(
        twice["detail"]
            .as_str()
            .unwrap()
            .contains("already invoiced"),
        "{twice}"
    );
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 1);
    assert_eq!(w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_conversions_with_one_key_make_one_invoice() {
    let w = full_world().start().await;
    // The GB company (VAT): QuickBooks' total of the invoice is the estimate's.
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    w.link_customer(A, 2, "1").await;
    w.link_item(A, 4, "3").await;
    w.link_item(A, 1, "2").await;
    let form = w.ready_draft(A, 2).await["form"].clone();
    let id = estimate_of(&w, A, 2, &form, "estimate-gb").await;
    w.quickbooks
        .set_estimate_status(GB_REALM, &id, TxnStatus::Accepted, None)
        .unwrap();
    w.quickbooks.harness().set_latency_ms(50);
    let path = format!("/api/deals/2/estimates/{id}/invoice");
    w.caller
        .same_post_at_once(20, &path, A, None, "same-convert-key")
        .await;
    let invoices = w.quickbooks.invoices(GB_REALM).unwrap();
    assert_eq!(invoices.len(), 1, "one invoice in QuickBooks");
    let estimate = w.quickbooks.estimate(GB_REALM, &id).unwrap();
    assert_eq!(invoices[0].total_amt, estimate.sale.total_amt);
    assert!(
        invoices[0].global_tax_calculation.is_some(),
        "VAT: the estimate's tax mode"
    );
    assert_eq!(
        w.keys(COMPANY_A, "DEAL#2#INVOICE#").await.len(),
        1,
        "one link"
    );
    assert_eq!(
        w.pipedrive.notes().len(),
        2,
        "the estimate's note and one invoice note"
    );
}

#[tokio::test]
async fn a_crash_between_quickbooks_and_the_link_write_is_finished_by_the_retry() {
    let w = full_world().start().await;
    let id = us_estimate(&w).await;
    w.quickbooks
        .set_estimate_status(US_REALM, &id, TxnStatus::Accepted, None)
        .unwrap();
    w.store.fail_writes("#INVOICE#", 1);
    let (status, problem) = convert(&w, B, 1, &id, "convert-crash").await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "QuickBooks created it (and closed the estimate)"
    );
    assert!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.is_empty(),
        "the link write crashed"
    );

    let (status, converted) = convert(&w, B, 1, &id, "convert-crash").await;
    assert_eq!(status, 201, "{converted}");
    let invoices = w.quickbooks.invoices(US_REALM).unwrap();
    assert_eq!(invoices.len(), 1, "no duplicate");
    assert_eq!(converted["invoice"]["id"], json!(invoices[0].id));
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(),
        1,
        "one link"
    );
    assert_eq!(w.pipedrive.notes().len(), 2, "one invoice note");
    let posts: Vec<_> = w
        .api_calls(US_REALM)
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/invoice"))
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].query, posts[1].query, "the same requestid");
    let list = w.deal_estimates(B, 1).await;
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["invoice_ids"].clone()),
        (Some("closed"), json!([invoices[0].id]))
    );
    // Company A cannot invoice B's estimate (nor see that it exists).
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    let (status, _) = convert(&w, A, 1, &id, "convert-other-company").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_conversion_cut_short_and_asked_again_with_another_key_still_makes_one_invoice() {
    let w = full_world().start().await;
    let id = us_estimate(&w).await;
    w.quickbooks
        .set_estimate_status(US_REALM, &id, TxnStatus::Accepted, None)
        .unwrap();
    w.store.fail_writes("#INVOICE#", 1);
    let (status, problem) = convert(&w, B, 1, &id, "convert-first-tab").await;
    assert_eq!(status, 500, "{problem}");
    // Another tab, another key: the estimate's link holds the first request's requestid, so
    // QuickBooks answers with the invoice it made (the estimate is Closed by now).
    let (status, converted) = convert(&w, B, 1, &id, "convert-second-tab").await;
    assert_eq!(status, 201, "{converted}");
    let invoices = w.quickbooks.invoices(US_REALM).unwrap();
    assert_eq!(invoices.len(), 1, "no duplicate");
    assert_eq!(converted["invoice"]["id"], json!(invoices[0].id));
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(),
        1,
        "one link"
    );
    // The first key comes back: the estimate is invoiced, and it says so.
    let (status, again) = convert(&w, B, 1, &id, "convert-first-tab").await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .contains("already invoiced"),
        "{again}"
    );
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 1);
}
