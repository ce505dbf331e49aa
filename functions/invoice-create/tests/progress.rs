//! Deposits and progress billing against both simulators: a 30 % deposit, a deal of 1,000.01 in
//! three parts whose rest is exact to the cent, an over-invoice refused then confirmed, a voided
//! deposit back in "left to invoice", and bad parts refused with a sentence.

mod support;

use pretty_assertions::assert_eq;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use shared::app::sync::changes::{Logged, apply_for_company};
use shared::domain::draft::round2;
use shared::domain::{CompanyId, IdempotencyState};
use shared::wire::quickbooks::model::LineDetailType;
use support::*;

const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

/// Company B on the US realm, deal 1 (USD) linked to a customer, its products to items: the
/// draft as the modal gets it.
async fn ready() -> (World, Value) {
    let w = world().start().await;
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
    w.link_customer(B, 1, "3").await;
    w.link_item(B, 1, "4").await;
    w.link_item(B, 2, "2").await;
    let draft = w.ready_draft(B, 1).await;
    (w, draft)
}

/// The form with `part` (and the over-invoice confirmation).
fn with_part(form: &Value, part: Value, confirm: bool) -> Value {
    let mut form = form.clone();
    form["part"] = part;
    form["confirm_over_invoice"] = json!(confirm);
    form
}

async fn create(w: &World, form: &Value, key: &str) -> (u16, Value) {
    w.call_json("POST", "/api/deals/1/invoices", B, Some(form), Some(key))
        .await
}

/// The deal's billing progress as the draft shows it.
async fn progress(w: &World) -> Value {
    w.draft(B, 1).await["progress"].clone()
}

/// The sum of an invoice's sales lines in QuickBooks (before tax).
fn lines_sum(w: &World, id: &str) -> Decimal {
    w.qb_invoice(US_REALM, id)
        .line
        .unwrap_or_default()
        .iter()
        .filter(|l| l.detail_type == LineDetailType::SalesItemLineDetail)
        .filter_map(|l| l.amount)
        .sum()
}

#[tokio::test]
async fn a_thirty_percent_deposit_bills_thirty_percent_of_the_deal_once() {
    let (w, draft) = ready().await;
    let totals = &draft["totals"];
    let value = dec_of(&totals["lines_total"]) - dec_of(&totals["discount"]);
    let before = &draft["progress"];
    assert_eq!(dec_of(&before["deal_value"]), value, "{before}");
    assert_eq!(dec_of(&before["invoiced"]), dec!(0));
    assert_eq!(dec_of(&before["left"]), value);

    let form = with_part(
        &draft["form"],
        json!({"kind": "percentage", "percent": 30}),
        false,
    );
    let (status, created) = create(&w, &form, "deposit-30").await;
    assert_eq!(status, 201, "{created}");
    // The same key again: the stored answer, no second invoice.
    let (again, replayed) = create(&w, &form, "deposit-30").await;
    assert_eq!((again, &replayed), (201, &created));
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 1);

    let deposit = round2(value * dec!(0.3));
    let id = created["invoice"]["id"].as_str().unwrap();
    assert_eq!(
        lines_sum(&w, id),
        deposit,
        "the lines bill 30 % of the deal"
    );
    // QuickBooks' total (its tax on the deposit's own taxable lines) is the one the app showed.
    let qb = w.qb_invoice(US_REALM, id);
    assert_eq!(qb.total_amt.unwrap(), dec_of(&created["preview"]["total"]));
    let billing = &created["link"]["billing"];
    assert_eq!(billing["kind"], "percentage");
    assert_eq!(dec_of(&billing["amount"]), deposit);
    assert_eq!(dec_of(&billing["whole"]), value);
    let notes = w.pipedrive.notes();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].note.content.contains("(30 % of the deal)"),
        "{}",
        notes[0].note.content
    );

    let after = progress(&w).await;
    assert_eq!(dec_of(&after["invoiced"]), deposit);
    assert_eq!(dec_of(&after["left"]), value - deposit);
    assert_eq!(after["invoices"], 1);
}

/// Deal 1 made worth exactly 1,000.01 USD without sales tax in Pipedrive (3 × 200.00 and
/// 1 × 400.01, no tax): the draft's form for it.
async fn thousand_and_one_cent(w: &World) -> Value {
    for (id, product, qty, price) in [(601, 1, 3, "200.00"), (602, 2, 1, "400.01")] {
        let line: shared::wire::pipedrive::model::DealProduct = serde_json::from_value(json!({
            "id": id, "product_id": product, "name": format!("Product {product}"),
            "quantity": qty, "item_price": price.parse::<f64>().unwrap(), "tax": 0,
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
    draft["form"].clone()
}

#[tokio::test]
async fn the_rest_of_1000_01_in_three_parts_is_exact_to_the_cent() {
    let (w, _) = ready().await;
    let whole = thousand_and_one_cent(&w).await;
    let parts = [
        (json!({"kind": "percentage", "percent": 30}), dec!(300.00)),
        (json!({"kind": "amount", "amount": "400.00"}), dec!(400.00)),
        (json!({"kind": "rest"}), dec!(300.01)),
    ];
    let mut total = Decimal::ZERO;
    for (i, (part, expected)) in parts.into_iter().enumerate() {
        let (status, created) = create(&w, &with_part(&whole, part, false), &format!("p{i}")).await;
        assert_eq!(status, 201, "{created}");
        let id = created["invoice"]["id"].as_str().unwrap();
        assert_eq!(lines_sum(&w, id), expected);
        total += w.qb_invoice(US_REALM, id).total_amt.unwrap();
    }
    assert_eq!(
        total,
        dec!(1000.01),
        "QuickBooks' three totals add up to the deal"
    );
    let links = w.keys(COMPANY_B, "DEAL#1#INVOICE#").await;
    assert_eq!(links.len(), 3);
    // Nothing is left: the rest again is refused, and says so.
    let (status, problem) =
        create(&w, &with_part(&whole, json!({"kind": "rest"}), false), "p3").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["message"],
        "Nothing is left to invoice on this deal: its value is 1,000.01 USD and 1,000.01 USD is invoiced."
    );
}

/// The 1,000.01 deal with a part of `percent` % invoiced under `key`, and its whole form.
async fn deal_with_a_part(percent: u32, key: &str) -> (World, Value) {
    let (w, _) = ready().await;
    let whole = thousand_and_one_cent(&w).await;
    let part = with_part(
        &whole,
        json!({"kind": "percentage", "percent": percent}),
        false,
    );
    let (status, created) = create(&w, &part, key).await;
    assert_eq!(status, 201, "{created}");
    (w, whole)
}

/// The answer is the over-invoice refusal saying `detail`, and QuickBooks still has only the first
/// part: the problem.
fn refused_as_over_invoice(w: &World, (status, problem): (u16, Value), detail: &str) -> Value {
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:pipedrive-quickbooks:problem:over-invoice"
    );
    assert_eq!(problem["detail"], detail);
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "nothing sent"
    );
    problem
}

#[tokio::test]
async fn more_than_what_is_left_is_refused_then_created_when_confirmed() {
    let (w, whole) = deal_with_a_part(70, "seventy").await;
    let over = with_part(&whole, json!({"kind": "amount", "amount": 400}), false);
    let problem = refused_as_over_invoice(
        &w,
        create(&w, &over, "over").await,
        "Only 300.00 USD is left to invoice on this deal (value 1,000.01 USD, invoiced 700.01 USD). This invoice would bill 400.00 USD: lower it, or confirm to invoice more than what is left.",
    );
    assert_eq!(dec_of(&problem["current"]["left"]), dec!(300.00));
    // The rep confirms (the same key comes back with the answer).
    let confirmed = with_part(&whole, json!({"kind": "amount", "amount": 400}), true);
    let (status, created) = create(&w, &confirmed, "over").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 2);
    let after = progress(&w).await;
    assert_eq!(dec_of(&after["left"]), dec!(0));
}

#[tokio::test]
async fn the_whole_deal_after_a_deposit_is_refused_then_created_when_confirmed() {
    let (w, whole) = deal_with_a_part(30, "deposit").await;
    // The rep forgets the deposit and invoices the whole deal.
    refused_as_over_invoice(
        &w,
        create(&w, &whole, "whole").await,
        "Only 700.01 USD is left to invoice on this deal (value 1,000.01 USD, invoiced 300.00 USD). An invoice for the whole deal would bill 1,000.01 USD: choose \"The rest\" under What to invoice, or confirm to invoice the whole deal again.",
    );
    let mut confirmed = whole.clone();
    confirmed["confirm_over_invoice"] = json!(true);
    let (status, created) = create(&w, &confirmed, "whole").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 2);
    assert_eq!(dec_of(&progress(&w).await["over_invoiced"]), dec!(300.00));
}

#[tokio::test]
async fn a_voided_deposit_is_left_to_invoice_again() {
    let (w, _) = ready().await;
    let whole = thousand_and_one_cent(&w).await;
    let (status, created) = create(
        &w,
        &with_part(&whole, json!({"kind": "percentage", "percent": 30}), false),
        "deposit",
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(dec_of(&progress(&w).await["left"]), dec!(700.01));
    // Voided in QuickBooks; the sync brings it to the link.
    let id = created["invoice"]["id"].as_str().unwrap();
    let voided = w.quickbooks.void_invoice(US_REALM, id).unwrap();
    let profile = w.profile(COMPANY_B).await;
    let now = chrono::Utc::now();
    apply_for_company(&w.app, &profile, US_REALM, &[voided], Logged::Here, now)
        .await
        .unwrap();
    let after = progress(&w).await;
    assert_eq!(dec_of(&after["invoiced"]), dec!(0), "{after}");
    assert_eq!(dec_of(&after["left"]), dec!(1000.01));
    // And the rest bills all of it again.
    let (status, rest) = create(
        &w,
        &with_part(&whole, json!({"kind": "rest"}), false),
        "rest",
    )
    .await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!(dec_of(&rest["link"]["billing"]["amount"]), dec!(1000.01));
}

#[tokio::test]
async fn bad_parts_are_refused_with_a_sentence_and_nothing_is_sent() {
    let (w, _) = ready().await;
    let whole = thousand_and_one_cent(&w).await;
    let cases = [
        (
            json!({"kind": "percentage", "percent": 0}),
            "A deposit is more than 0 % and at most 100 % of the deal, not 0 %.",
        ),
        (
            json!({"kind": "percentage", "percent": 150}),
            "A deposit is more than 0 % and at most 100 % of the deal, not 150 %.",
        ),
        (
            json!({"kind": "amount", "amount": -10}),
            "The amount to invoice must be more than 0, not -10.00 USD.",
        ),
        (
            json!({"kind": "lines", "lines": [{"index": 1, "quantity": 2}]}),
            "Line 2 (",
        ),
    ];
    for (i, (part, sentence)) in cases.into_iter().enumerate() {
        let (status, problem) =
            create(&w, &with_part(&whole, part, false), &format!("bad{i}")).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "part");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with(sentence), "{message}");
    }
    // A part the API does not know is a 4xx problem too.
    let (status, problem) = create(
        &w,
        &with_part(&whole, json!({"kind": "half"}), false),
        "bad9",
    )
    .await;
    assert!((400..500).contains(&status), "{problem}");
    assert!(w.quickbooks.invoices(US_REALM).unwrap().is_empty());
}

#[tokio::test]
async fn a_crash_between_quickbooks_and_the_link_write_of_the_rest_is_finished_by_the_retry() {
    let (w, _) = ready().await;
    let whole = thousand_and_one_cent(&w).await;
    let (status, _) = create(
        &w,
        &with_part(&whole, json!({"kind": "percentage", "percent": 30}), false),
        "deposit",
    )
    .await;
    assert_eq!(status, 201);
    w.store.fail_writes("#INVOICE#", 1);
    let rest = with_part(&whole, json!({"kind": "rest"}), false);
    let (status, problem) = create(&w, &rest, "rest-crash").await;
    assert_eq!(status, 500, "{problem}");
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        2,
        "QuickBooks made it"
    );
    // The retry plans the same rest (700.01), QuickBooks answers the same invoice, one link.
    let (status, created) = create(&w, &rest, "rest-crash").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        2,
        "no duplicate"
    );
    assert_eq!(w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(), 2);
    assert_eq!(dec_of(&created["link"]["billing"]["amount"]), dec!(700.01));
    let posts = w.invoice_posts(US_REALM);
    assert_eq!(posts[1].query, posts[2].query, "the same requestid");
    assert_eq!(dec_of(&progress(&w).await["left"]), dec!(0));
}

#[tokio::test]
async fn a_retry_after_the_link_was_written_plans_the_same_part_not_what_is_left_after_it() {
    let (w, _) = ready().await;
    let whole = thousand_and_one_cent(&w).await;
    let rest = with_part(&whole, json!({"kind": "rest"}), false);
    let (status, created) = create(&w, &rest, "rest-once").await;
    assert_eq!(status, 201, "{created}");
    // A crash after the link write, before the answer was stored: the key is still held, its
    // lease run out, so the retry runs the create again.
    let mut record = w
        .app
        .records
        .get_idempotency(CompanyId(COMPANY_B), "rest-once")
        .await
        .unwrap()
        .unwrap();
    record.state = IdempotencyState::InProgress {
        until: chrono::Utc::now() - chrono::Duration::seconds(1),
    };
    w.app.records.save_idempotency(&record).await.unwrap();
    // The invoice it made does not count against itself: the same rest, the same invoice.
    let (status, again) = create(&w, &rest, "rest-once").await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["invoice"]["id"], created["invoice"]["id"]);
    assert_eq!(dec_of(&again["link"]["billing"]["amount"]), dec!(1000.01));
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "no duplicate"
    );
    assert_eq!(w.keys(COMPANY_B, "DEAL#1#INVOICE#").await.len(), 1);
}

#[tokio::test]
async fn a_vat_inclusive_deposit_and_rest_add_up_and_each_carries_the_vat_of_its_own_lines() {
    const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
    let w = world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    let body = json!({"deal_id": 2, "display_name": "Thames Digital Ltd"});
    let (status, made) = w
        .call_json("POST", "/api/quickbooks/customers", A, Some(&body), None)
        .await;
    assert_eq!(status, 201, "{made}");
    w.link_item(A, 4, "3").await;
    w.link_item(A, 1, "2").await;
    let draft = w.draft(A, 2).await;
    assert_eq!(draft["problems"], json!([]), "{draft:#}");
    assert_eq!(draft["form"]["tax_mode"], "inclusive");
    // Inclusive: the deal's value is its gross amount, 2,185.00 GBP.
    assert_eq!(dec_of(&draft["progress"]["deal_value"]), dec!(2185));
    let mut totals = Decimal::ZERO;
    let parts = [
        (
            json!({"kind": "percentage", "percent": 30}),
            "PD-D1",
            dec!(655.50),
        ),
        (json!({"kind": "rest"}), "PD-D2", dec!(1529.50)),
    ];
    for (part, number, expected) in parts {
        let mut form = with_part(&draft["form"], part, false);
        form["doc_number"] = json!(number);
        let (status, created) = w
            .call_json(
                "POST",
                "/api/deals/2/invoices",
                A,
                Some(&form),
                Some(number),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["invoice"]["id"].as_str().unwrap();
        let qb = w.qb_invoice(GB_REALM, id);
        assert_eq!(qb.total_amt, Some(expected));
        // QuickBooks' VAT of the part is the one the app computed for the part's own lines.
        assert_eq!(
            qb.txn_tax_detail.unwrap().total_tax,
            Some(dec_of(&created["preview"]["tax"]))
        );
        assert_eq!(dec_of(&created["preview"]["total"]), expected);
        totals += expected;
    }
    assert_eq!(totals, dec!(2185));
    let after = w.draft(A, 2).await["progress"].clone();
    assert_eq!(dec_of(&after["left"]), dec!(0));
}
