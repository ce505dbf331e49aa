//! Estimate -> invoice (issue 22) against the simulators: `POST
//! /api/deals/{deal_id}/estimates/{estimate_id}/invoice` (invoice-create) makes the invoice from an
//! accepted estimate once, links it on the deal, and the estimate shows Closed with its invoice;
//! or a part of it (a percentage, an amount, the rest), the last one closing it.

use integration_tests::{entity_webhook, full_world};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use shared::wire::quickbooks::model::{Invoice, LineDetailType, LinkedTxn, TxnStatus};
use test_world::{
    COMPANY_A, COMPANY_B, GB_REALM, US_REALM, USER_A_ADMIN, USER_B_ADMIN, World, dec_of,
};

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

// ---- Parts of an accepted estimate: a deposit, progress invoices, the rest. ----

/// Company B, deal 1 worth exactly 1,000.01 USD without tax (3 × 200.00 and 1 × 400.01), with
/// an estimate of it the customer accepted: its id and its name ("Estimate #1001").
async fn accepted_estimate_of_1000_01(w: &World) -> (String, String) {
    w.us_deal_ready().await;
    for (id, product, qty, price) in [(601, 1, 3, 200.00), (602, 2, 1, 400.01)] {
        let line: shared::wire::pipedrive::model::DealProduct = serde_json::from_value(json!({
            "id": id, "product_id": product, "name": format!("Product {product}"),
            "quantity": qty, "item_price": price, "tax": 0,
            "tax_method": "exclusive", "is_enabled": true, "order_nr": id
        }))
        .unwrap();
        w.pipedrive.add_deal_product(COMPANY_B, 1, line).unwrap();
    }
    let draft = w.ready_draft(B, 1).await;
    assert_eq!(
        dec_of(&draft["totals"]["total"]),
        dec!(1000.01),
        "{draft:#}"
    );
    let id = estimate_of(w, B, 1, &draft["form"], "estimate-1000-01").await;
    // The rep records the customer's answer in the panel.
    let path = format!("/api/deals/1/estimates/{id}/answer");
    let accepted = json!({"answer": "accepted"});
    let (status, answer) = w.call_json("POST", &path, B, Some(&accepted), None).await;
    assert_eq!(status, 200, "{answer}");
    let doc = w
        .quickbooks
        .estimate(US_REALM, &id)
        .unwrap()
        .sale
        .doc_number;
    (id, format!("Estimate #{}", doc.unwrap()))
}

async fn invoice_part(w: &World, id: &str, body: Option<Value>, key: &str) -> (u16, Value) {
    w.call_json(
        "POST",
        &format!("/api/deals/1/estimates/{id}/invoice"),
        B,
        body.as_ref(),
        Some(key),
    )
    .await
}

/// The sum of a QuickBooks invoice's sales lines (before tax).
fn lines_sum(invoice: &Invoice) -> Decimal {
    invoice
        .line
        .iter()
        .flatten()
        .filter(|l| l.detail_type == LineDetailType::SalesItemLineDetail)
        .filter_map(|l| l.amount)
        .sum()
}

fn qb_invoice(w: &World, answer: &Value) -> Invoice {
    let id = answer["invoice"]["id"].as_str().unwrap();
    w.qb_invoice(US_REALM, id)
}

/// The estimate's figures as the panel lists them: (status, invoiced, basis, left).
async fn figures(w: &World) -> (String, Decimal, Decimal, Decimal) {
    let list = w.deal_estimates(B, 1).await;
    let e = &list[0];
    (
        e["status"].as_str().unwrap().to_string(),
        dec_of(&e["invoiced"]),
        dec_of(&e["basis"]),
        dec_of(&e["left"]),
    )
}

fn qb_status(w: &World, id: &str) -> Option<TxnStatus> {
    w.quickbooks.estimate(US_REALM, id).unwrap().txn_status
}

#[tokio::test]
async fn thirty_percent_of_an_estimate_then_the_rest_add_up_to_it_and_only_the_rest_closes_it() {
    let w = full_world().start().await;
    let (id, name) = accepted_estimate_of_1000_01(&w).await;

    let thirty = json!({"part": {"kind": "percentage", "percent": 30}});
    let (status, deposit) = invoice_part(&w, &id, Some(thirty.clone()), "est-30").await;
    assert_eq!(status, 201, "{deposit}");
    let (again, replayed) = invoice_part(&w, &id, Some(thirty), "est-30").await;
    assert_eq!(
        (again, &replayed),
        (201, &deposit),
        "the same key: the same answer"
    );
    let first = qb_invoice(&w, &deposit);
    let amounts: Vec<Decimal> = first
        .line
        .iter()
        .flatten()
        .filter(|l| l.detail_type == LineDetailType::SalesItemLineDetail)
        .filter_map(|l| l.amount)
        .collect();
    assert_eq!(
        amounts,
        vec![dec!(180.00), dec!(120.00)],
        "scaled, the last line takes the rest"
    );
    assert_eq!(lines_sum(&first), dec!(300.00));
    assert!(
        first.linked_txn.as_deref().unwrap_or_default().is_empty(),
        "no LinkedTxn before the last part"
    );
    assert!(
        first
            .private_note
            .as_deref()
            .unwrap_or("")
            .contains(&format!("Part of {name}")),
        "{:?}",
        first.private_note
    );
    assert!(
        first
            .line
            .iter()
            .flatten()
            .filter(|l| l.detail_type == LineDetailType::SalesItemLineDetail)
            .all(|l| l
                .description
                .as_deref()
                .unwrap_or("")
                .ends_with(&format!("30 % of {name}"))),
        "{:?}",
        first.line
    );
    assert_eq!(
        qb_status(&w, &id),
        Some(TxnStatus::Accepted),
        "still open in QuickBooks"
    );
    assert_eq!(deposit["link"]["billing"]["estimate_id"], json!(id));
    assert!(
        deposit["message"].as_str().unwrap().ends_with("(30 %)."),
        "{deposit}"
    );
    assert_eq!(
        figures(&w).await,
        ("accepted".into(), dec!(300.00), dec!(1000.01), dec!(700.01))
    );
    // The panel's progress measures against the estimate now (the newest invoice records it),
    // even once the deal itself is worth more than the estimate.
    let more: shared::wire::pipedrive::model::DealProduct = serde_json::from_value(json!({
        "id": 603, "product_id": 1, "name": "Product 1", "quantity": 1, "item_price": 50.0,
        "tax": 0, "tax_method": "exclusive", "is_enabled": true, "order_nr": 603
    }))
    .unwrap();
    w.pipedrive.add_deal_product(COMPANY_B, 1, more).unwrap();
    let (status, invoices) = w
        .call_json("GET", "/api/deals/1/invoices", B, None, None)
        .await;
    assert_eq!(status, 200, "{invoices}");
    let progress = &invoices["progress"][0];
    assert_eq!(
        (
            dec_of(&progress["deal_value"]),
            dec_of(&progress["invoiced"]),
            dec_of(&progress["left"])
        ),
        (dec!(1000.01), dec!(300.00), dec!(700.01)),
        "{progress}"
    );
    let notes = w.pipedrive.notes();
    assert!(
        notes
            .last()
            .unwrap()
            .note
            .content
            .contains("(30 % of the estimate)"),
        "{:?}",
        notes.last()
    );
    let log = w.activity(COMPANY_B, 1).await;
    assert_eq!(kinds(&log, "estimate.part_invoiced"), 1, "{log:#?}");
    assert_eq!(kinds(&log, "estimate.converted"), 0);

    // "In full" after a part is the rest: exactly what is left, linked, and the estimate closes.
    let (status, rest) = invoice_part(&w, &id, None, "est-rest").await;
    assert_eq!(status, 201, "{rest}");
    let last = qb_invoice(&w, &rest);
    assert_eq!(lines_sum(&last), dec!(700.01));
    assert_eq!(
        lines_sum(&first) + lines_sum(&last),
        dec!(1000.01),
        "exact to the cent"
    );
    assert_eq!(
        last.linked_txn,
        Some(vec![LinkedTxn {
            txn_id: id.clone(),
            txn_type: "Estimate".into(),
            txn_line_id: None
        }])
    );
    assert_eq!(rest["link"]["billing"]["kind"], "rest");
    assert_eq!(qb_status(&w, &id), Some(TxnStatus::Closed));
    assert_eq!(
        figures(&w).await,
        ("closed".into(), dec!(1000.01), dec!(1000.01), dec!(0))
    );
    let list = w.deal_estimates(B, 1).await;
    assert!(
        list[0]["invoice_ids"]
            .as_array()
            .unwrap()
            .contains(&rest["invoice"]["id"]),
        "{list:?}"
    );
    let log = w.activity(COMPANY_B, 1).await;
    assert_eq!(kinds(&log, "estimate.converted"), 1, "{log:#?}");
    assert_eq!(kinds(&log, "invoice.created"), 2, "{log:#?}");

    // Nothing more: another part is refused with a sentence.
    let (status, more) = invoice_part(
        &w,
        &id,
        Some(json!({"part": {"kind": "amount", "amount": "10.00"}})),
        "est-more",
    )
    .await;
    assert_eq!(status, 409, "{more}");
    assert!(
        more["detail"]
            .as_str()
            .unwrap()
            .contains("already invoiced"),
        "{more}"
    );
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 2);
}

#[tokio::test]
async fn an_amount_over_what_is_left_is_refused_then_confirmed_and_a_voided_part_returns_to_left() {
    let w = full_world().start().await;
    let (id, name) = accepted_estimate_of_1000_01(&w).await;
    let (status, deposit) = invoice_part(
        &w,
        &id,
        Some(json!({"part": {"kind": "percentage", "percent": 30}})),
        "part-a",
    )
    .await;
    assert_eq!(status, 201, "{deposit}");
    let over = json!({"part": {"kind": "amount", "amount": "800.00"}});
    let (status, refused) = invoice_part(&w, &id, Some(over.clone()), "part-over").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["detail"].as_str().unwrap(),
        format!(
            "Only 700.01 USD is left to invoice of {name} (value before tax 1,000.01 USD, \
             invoiced 300.00 USD). This invoice would bill 800.00 USD: lower it, or confirm to \
             invoice more than what is left."
        )
    );
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "nothing sent"
    );

    // The deposit voided (the panel's void): its 300.00 is left to invoice again.
    let void = format!(
        "/api/deals/1/invoices/{}/void",
        deposit["invoice"]["id"].as_str().unwrap()
    );
    let (status, voided) = w
        .call_json("POST", &void, B, Some(&json!({"confirm": true})), None)
        .await;
    assert_eq!(status, 200, "{voided}");
    assert_eq!(
        figures(&w).await,
        ("accepted".into(), dec!(0), dec!(1000.01), dec!(1000.01))
    );
    let (status, big) = invoice_part(
        &w,
        &id,
        Some(json!({"part": {"kind": "amount", "amount": "1000.00"}})),
        "part-b",
    )
    .await;
    assert_eq!(status, 201, "{big}");
    assert!(
        qb_invoice(&w, &big)
            .linked_txn
            .unwrap_or_default()
            .is_empty(),
        "0.01 USD is left"
    );
    assert_eq!(qb_status(&w, &id), Some(TxnStatus::Accepted));

    // Over what is left (0.01): refused, then confirmed; it finishes the estimate.
    let (status, refused) = invoice_part(&w, &id, Some(over.clone()), "part-over-2").await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .starts_with("Only 0.01 USD is left"),
        "{refused}"
    );
    let mut confirmed = over;
    confirmed["confirm_over_invoice"] = json!(true);
    let (status, last) = invoice_part(&w, &id, Some(confirmed), "part-over-2-confirmed").await;
    assert_eq!(status, 201, "{last}");
    assert_eq!(lines_sum(&qb_invoice(&w, &last)), dec!(800.00));
    assert_eq!(
        qb_invoice(&w, &last).linked_txn.unwrap_or_default().len(),
        1,
        "it finishes the estimate"
    );
    assert_eq!(qb_status(&w, &id), Some(TxnStatus::Closed));
    assert_eq!(
        figures(&w).await,
        ("closed".into(), dec!(1800.00), dec!(1000.01), dec!(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_identical_parts_with_one_key_make_one_invoice() {
    let w = full_world().start().await;
    let (id, _) = accepted_estimate_of_1000_01(&w).await;
    w.quickbooks.harness().set_latency_ms(50);
    let body = json!({"part": {"kind": "percentage", "percent": 30}});
    let path = format!("/api/deals/1/estimates/{id}/invoice");
    let answer = w
        .caller
        .same_post_at_once(20, &path, B, Some(&body), "same-part-key")
        .await;
    let invoices = w.quickbooks.invoices(US_REALM).unwrap();
    assert_eq!(invoices.len(), 1, "one invoice in QuickBooks");
    assert_eq!(lines_sum(&invoices[0]), dec!(300.00));
    assert_eq!(answer["invoice"]["id"], json!(invoices[0].id));
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(),
        1,
        "one link"
    );
    assert_eq!(qb_status(&w, &id), Some(TxnStatus::Accepted));
}

#[tokio::test]
async fn parts_cut_short_between_quickbooks_and_the_link_write_are_finished_by_their_retry() {
    let w = full_world().start().await;
    let (id, _) = accepted_estimate_of_1000_01(&w).await;
    let thirty = json!({"part": {"kind": "percentage", "percent": 30}});
    w.store.fail_writes("#INVOICE#", 1);
    let (status, problem) = invoice_part(&w, &id, Some(thirty.clone()), "part-crash").await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 1);
    assert!(w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.is_empty());
    let (status, deposit) = invoice_part(&w, &id, Some(thirty), "part-crash").await;
    assert_eq!(status, 201, "{deposit}");
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "no duplicate"
    );
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(),
        1,
        "one link"
    );

    // The rest, cut short the same way: QuickBooks made it and closed the estimate; the retry
    // finishes it (its requestid again) instead of refusing a Closed estimate.
    w.store.fail_writes("#INVOICE#", 1);
    let rest = json!({"part": {"kind": "rest"}});
    let (status, problem) = invoice_part(&w, &id, Some(rest.clone()), "rest-crash").await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(qb_status(&w, &id), Some(TxnStatus::Closed));
    let (status, finished) = invoice_part(&w, &id, Some(rest), "rest-crash").await;
    assert_eq!(status, 201, "{finished}");
    let invoices = w.quickbooks.invoices(US_REALM).unwrap();
    assert_eq!(invoices.len(), 2, "no duplicate");
    assert_eq!(
        w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(),
        2,
        "one link each"
    );
    assert_eq!(lines_sum(&qb_invoice(&w, &finished)), dec!(700.01));
    let posts: Vec<_> = w
        .api_calls(US_REALM)
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/invoice"))
        .collect();
    assert_eq!(posts.len(), 4);
    assert_eq!(
        posts[0].query, posts[1].query,
        "the part's requestid, twice"
    );
    assert_eq!(
        posts[2].query, posts[3].query,
        "the rest's requestid, twice"
    );
    assert_eq!(
        figures(&w).await,
        ("closed".into(), dec!(1000.01), dec!(1000.01), dec!(0))
    );
}

#[tokio::test]
async fn a_wrong_part_is_a_422_with_a_sentence() {
    let w = full_world().start().await;
    let (id, _) = accepted_estimate_of_1000_01(&w).await;
    for (n, (body, says)) in [
        (
            json!({"part": {"kind": "percentage", "percent": -5}}),
            "more than 0 %",
        ),
        (json!({"part": {"kind": "amount", "amount": "1e30"}}), ""),
        (
            json!({"part": {"kind": "amount", "amount": "99999999999999999"}}),
            "less than",
        ),
        (
            json!({"part": {"kind": "lines", "lines": [{"index": 9, "quantity": 1}]}}),
            "no line 10",
        ),
        (
            json!({"part": {"kind": "rest"}, "surprise": 1}),
            "expected fields",
        ),
        (json!({"part": {"kind": "half"}}), "expected fields"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, problem) =
            invoice_part(&w, &id, Some(body.clone()), &format!("bad-{n}")).await;
        assert_eq!(status, 422, "{body}: {problem}");
        let text = problem.to_string();
        assert!(text.contains(says), "{body}: {problem}");
    }
    assert!(w.quickbooks.invoices(US_REALM).unwrap().is_empty());
}
