//! Bulk invoicing from the deals list against both simulators (embedded store): a 25-deal batch
//! with ready and blocked deals invoices exactly the ready ones and says why for each blocked one;
//! the same batch retried makes no second invoice, nor does a run whose batch record lost its
//! outcomes; a batch interrupted by an upstream fault and resumed invoices each ready deal once;
//! another company's deal ids are refused per deal; a batch of estimates makes an estimate for
//! exactly the ready deals, once, however often it is run or resumed.

mod support;

use std::collections::BTreeSet;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use shared::domain::bulk::DealOutcome;
use shared::domain::{CompanyId, DealId};
use shared::wire::pipedrive::model::{Deal, DealProduct, Organization, Product};
use support::*;

const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);
const BATCH: &str = "6f1d2c3b-4a59-4e8f-9c0d-1e2f3a4b5c6d";
const FIRST: u64 = 3001;

/// What each of the 25 deals is (by its index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ready,
    NoParty,
    UnlinkedCustomer,
    UnlinkedItem,
}

fn kind(i: u64) -> Kind {
    match i % 5 {
        0 => Kind::NoParty,
        1 => Kind::UnlinkedCustomer,
        2 => Kind::UnlinkedItem,
        _ => Kind::Ready,
    }
}

fn deal_ids() -> Vec<u64> {
    ids_of(25)
}

fn ids_of(n: u64) -> Vec<u64> {
    (0..n).map(|i| FIRST + i).collect()
}

fn ready_ids() -> BTreeSet<u64> {
    ready_of(25)
}

fn ready_of(n: u64) -> BTreeSet<u64> {
    (0..n)
        .filter(|&i| kind(i) == Kind::Ready)
        .map(|i| FIRST + i)
        .collect()
}

fn line(id: u64, product: u64, name: &str, quantity: u64) -> DealProduct {
    serde_json::from_value(json!({
        "id": id, "product_id": product, "name": name, "quantity": quantity, "item_price": 199,
        "tax": 8.25, "tax_method": "exclusive", "is_enabled": true, "order_nr": 1
    }))
    .unwrap()
}

/// Company B on the US realm: its customer "Bolt Freight Co." created and linked (org 1), its
/// products 1 and 2 linked to items; product 3 "Pallet scanner" and org 2 "Quiet Harbor LLC"
/// left unlinked; 25 deals, 10 of them ready.
async fn world_with_deals() -> World {
    world_with(25).await
}

/// [`world_with_deals`] with `n` deals (two in five ready).
async fn world_with(n: u64) -> World {
    let w = world().start().await;
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
    w.ready_bolt_deal_1().await;
    let org: Organization =
        serde_json::from_value(json!({"id": 2, "name": "Quiet Harbor LLC"})).unwrap();
    w.pipedrive.upsert_organization(COMPANY_B, org).unwrap();
    let product: Product =
        serde_json::from_value(json!({"id": 3, "name": "Pallet scanner"})).unwrap();
    w.pipedrive.upsert_product(COMPANY_B, product).unwrap();
    for i in 0..n {
        seed_deal(&w, i);
    }
    w
}

fn seed_deal(w: &World, i: u64) {
    let id = FIRST + i;
    let org = match kind(i) {
        Kind::NoParty => Value::Null,
        Kind::UnlinkedCustomer => json!(2),
        _ => json!(1),
    };
    let deal: Deal = serde_json::from_value(json!({
        "id": id, "title": format!("Fleet order {i}"), "currency": "USD", "org_id": org,
        "person_id": null, "pipeline_id": 1, "stage_id": 1, "status": "won",
        "add_time": "2026-01-05T09:00:00Z", "update_time": "2026-01-05T09:00:00Z", "value": 100
    }))
    .unwrap();
    w.pipedrive.upsert_deal(COMPANY_B, deal).unwrap();
    // Each deal a different total (no two look like the same invoice).
    let quantity = i + 1;
    let (product, name) = match kind(i) {
        Kind::UnlinkedItem => (3, "Pallet scanner"),
        _ => (1, "Fleet tracker"),
    };
    w.pipedrive
        .add_deal_product(COMPANY_B, id, line(id * 10, product, name, quantity))
        .unwrap();
}

async fn create_batch(w: &World, who: (u64, u64), batch: &str, deals: &[u64]) -> (u16, Value) {
    w.call_json(
        "POST",
        "/api/bulk/batches",
        who,
        Some(&json!({"batch_id": batch, "deal_ids": deals})),
        None,
    )
    .await
}

async fn create_batch_of(w: &World, document: &str, batch: &str, deals: &[u64]) -> (u16, Value) {
    w.call_json(
        "POST",
        "/api/bulk/batches",
        B,
        Some(&json!({"batch_id": batch, "deal_ids": deals, "document": document})),
        None,
    )
    .await
}

/// The estimate POSTs QuickBooks answered 200, and the estimates it holds.
fn created_estimates(w: &World) -> (usize, BTreeSet<String>) {
    let ok = w
        .quickbooks
        .harness()
        .requests_matching(Some("POST"), &format!("/v3/company/{US_REALM}/estimate"))
        .into_iter()
        .filter(|r| r.path.ends_with("/estimate") && r.status == 200)
        .filter(|r| !r.query.as_deref().unwrap_or("").contains("operation="))
        .count();
    let ids = w
        .quickbooks
        .estimates(US_REALM)
        .unwrap()
        .into_iter()
        .filter_map(|e| e.sale.id)
        .collect();
    (ok, ids)
}

async fn run_page(w: &World, who: (u64, u64), batch: &str) -> Value {
    let (status, body) = w
        .call_json(
            "POST",
            &format!("/api/bulk/batches/{batch}/run"),
            who,
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Runs pages until nothing is pending or a page changes nothing; answers the last view.
async fn run_to_end(w: &World, who: (u64, u64), batch: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..10 {
        let view = run_page(w, who, batch).await;
        if view["progress"]["pending"] == 0 || view["progress"] == last["progress"] {
            return view;
        }
        last = view;
    }
    last
}

/// The invoice POSTs QuickBooks answered 200, and the distinct invoices they made.
fn created_invoices(w: &World) -> (usize, BTreeSet<String>) {
    let ok: Vec<_> = w
        .invoice_posts(US_REALM)
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    let ids = w
        .quickbooks
        .invoices(US_REALM)
        .unwrap()
        .into_iter()
        .filter_map(|i| i.id)
        .collect();
    (ok.len(), ids)
}

fn outcomes(view: &Value) -> Vec<(u64, String)> {
    view["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["deal_id"].as_u64().unwrap(),
                d["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn created_deals(view: &Value) -> BTreeSet<u64> {
    outcomes(view)
        .into_iter()
        .filter(|(_, s)| s == "created")
        .map(|(d, _)| d)
        .collect()
}

#[tokio::test]
async fn readiness_names_each_blocker_with_its_fix() {
    let w = world_with_deals().await;
    let ids: Vec<u64> = deal_ids().into_iter().take(5).collect();
    let (status, body) = w
        .call_json(
            "POST",
            "/api/bulk/readiness",
            B,
            Some(&json!({"deal_ids": ids})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deals = body["deals"].as_array().unwrap();
    assert_eq!(deals.len(), 5);
    assert_eq!(deals[0]["blockers"][0]["kind"], "party");
    assert_eq!(
        deals[1]["sentence"],
        "Not ready — needs: a QuickBooks customer for \"Quiet Harbor LLC\"."
    );
    assert_eq!(deals[1]["blockers"][0]["kind"], "customer");
    assert_eq!(deals[2]["blockers"][0]["kind"], "item");
    assert_eq!(deals[2]["blockers"][0]["product_id"], 3);
    for ready in &deals[3..] {
        assert_eq!(ready["ready"], true, "{ready}");
        assert_eq!(ready["sentence"], "Ready to invoice.");
        assert_eq!(ready["customer_name"], "Bolt Freight Co.");
    }
    assert!(
        w.invoice_posts(US_REALM).is_empty(),
        "readiness creates nothing"
    );
}

#[tokio::test]
async fn a_non_us_company_is_told_of_the_currency_and_each_lines_tax_code() {
    let w = world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    let a = (COMPANY_A, USER_A_ADMIN);
    // Deal 1 is in EUR, which the UK company does not take; its lines have no tax code.
    let (status, body) = w
        .call_json(
            "POST",
            "/api/bulk/readiness",
            a,
            Some(&json!({"deal_ids": [1]})),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deal = &body["deals"][0];
    let kinds: Vec<&str> = deal["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"currency"), "{kinds:?}");
    assert!(kinds.contains(&"tax"), "{kinds:?}");
    let sentence = deal["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("a currency QuickBooks accepts for this customer")
            && sentence.contains("a tax code for \"Consulting hour\""),
        "{sentence}"
    );
}

#[tokio::test]
async fn a_25_deal_batch_invoices_exactly_the_ready_deals_and_a_retry_makes_no_second_invoice() {
    let w = world_with_deals().await;
    let ids = deal_ids();
    let (status, view) = create_batch(&w, B, BATCH, &ids).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["progress"]["pending"], 25);
    assert_eq!(view["document"], "invoice", "invoices unless asked");

    let done = run_to_end(&w, B, BATCH).await;
    assert_eq!(done["progress"]["pending"], 0, "{done:#}");
    assert_eq!(created_deals(&done), ready_ids());
    let (posts, invoices) = created_invoices(&w);
    assert_eq!((posts, invoices.len()), (10, 10));
    for (i, d) in done["deals"].as_array().unwrap().iter().enumerate() {
        let sentence = d["sentence"].as_str().unwrap_or("");
        match kind(i as u64) {
            Kind::Ready => {
                let id = d["invoice_id"].as_str().unwrap();
                assert!(invoices.contains(id));
                assert!(d["open_url"].as_str().unwrap().contains(id));
                assert!(
                    w.stored_link(COMPANY_B, FIRST + i as u64, id)
                        .await
                        .is_some()
                );
            }
            Kind::NoParty => assert_eq!(
                sentence,
                "Not invoiced — needs: an organisation or person on the deal."
            ),
            Kind::UnlinkedCustomer => assert_eq!(
                sentence,
                "Not invoiced — needs: a QuickBooks customer for \"Quiet Harbor LLC\"."
            ),
            Kind::UnlinkedItem => assert_eq!(
                sentence,
                "Not invoiced — needs: a QuickBooks item for \"Pallet scanner\"."
            ),
        }
    }

    // The tab closed and the page retries the whole batch: the same batch, nothing new.
    let (status, again) = create_batch(&w, B, BATCH, &ids).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["progress"]["created"], 10);
    let rerun = run_page(&w, B, BATCH).await;
    assert_eq!(rerun["deals"], done["deals"]);
    // Even a run whose batch record lost every outcome replays the (batch, deal) keys.
    let mut batch = w
        .app
        .records
        .get_bulk_batch(CompanyId(COMPANY_B), BATCH)
        .await
        .unwrap()
        .unwrap();
    for d in &mut batch.deals {
        d.outcome = DealOutcome::pending();
    }
    w.app.records.save_bulk_batch(&batch).await.unwrap();
    let replayed = run_to_end(&w, B, BATCH).await;
    assert_eq!(created_deals(&replayed), ready_ids());
    assert_eq!(created_invoices(&w), (posts, invoices));
}

#[tokio::test]
async fn a_batch_of_estimates_makes_one_for_exactly_the_ready_deals_and_a_rerun_makes_no_second() {
    let w = world_with(10).await;
    let ids = ids_of(10);
    let (status, view) = create_batch_of(&w, "estimate", BATCH, &ids).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["document"], "estimate");
    // An upstream fault on the first page: the run resumes where it stopped.
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{US_REALM}/estimate"),
        sandbox::harness::FaultSpec {
            force_500: 2,
            ..sandbox::harness::FaultSpec::default()
        },
    );
    let first = run_page(&w, B, BATCH).await;
    assert!(
        first["progress"]["failed"].as_u64().unwrap() >= 1,
        "{first:#}"
    );
    w.quickbooks.harness().clear_faults();
    let done = run_to_end(&w, B, BATCH).await;
    assert_eq!(done["progress"]["pending"], 0, "{done:#}");
    assert_eq!(done["progress"]["created"], 4);
    assert_eq!(created_deals(&done), ready_of(10));
    let (posts, estimates) = created_estimates(&w);
    assert_eq!((posts, estimates.len()), (4, 4));
    assert!(w.invoice_posts(US_REALM).is_empty(), "no invoice");
    for (i, d) in done["deals"].as_array().unwrap().iter().enumerate() {
        let deal = FIRST + i as u64;
        let links = w
            .app
            .records
            .deal_estimate_links(CompanyId(COMPANY_B), DealId(deal))
            .await
            .unwrap();
        if kind(i as u64) != Kind::Ready {
            assert!(links.is_empty(), "deal {deal}");
            assert!(
                d["sentence"]
                    .as_str()
                    .unwrap()
                    .starts_with("No estimate — needs: "),
                "{d}"
            );
            continue;
        }
        let id = d["estimate_id"].as_str().unwrap();
        assert!(estimates.contains(id), "{d}");
        assert!(d.get("invoice_id").is_none(), "{d}");
        let url = d["open_url"].as_str().unwrap();
        assert!(url.contains("estimate") && url.ends_with(id), "{url}");
        assert_eq!(links.len(), 1, "deal {deal}");
        assert_eq!(links[0].estimate_id, id);
        assert_eq!(d["doc_number"], json!(links[0].doc_number));
    }

    // The whole batch again (a closed tab): the same batch, nothing new.
    let (status, again) = create_batch_of(&w, "estimate", BATCH, &ids).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(run_page(&w, B, BATCH).await["deals"], done["deals"]);
    // A run whose batch record lost every outcome replays the (batch, deal) keys.
    let mut batch = w
        .app
        .records
        .get_bulk_batch(CompanyId(COMPANY_B), BATCH)
        .await
        .unwrap()
        .unwrap();
    for d in &mut batch.deals {
        d.outcome = DealOutcome::pending();
    }
    w.app.records.save_bulk_batch(&batch).await.unwrap();
    let replayed = run_to_end(&w, B, BATCH).await;
    assert_eq!(replayed["deals"], done["deals"]);
    assert_eq!(created_estimates(&w), (posts, estimates));
    // The same id for invoices of these deals is refused with a sentence.
    let (status, problem) = create_batch_of(&w, "invoice", BATCH, &ids).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already used to create estimates"),
        "{problem}"
    );
    assert!(w.invoice_posts(US_REALM).is_empty());
}

#[tokio::test]
async fn a_batch_interrupted_by_an_upstream_fault_and_resumed_invoices_each_ready_deal_once() {
    let w = world_with_deals().await;
    create_batch(&w, B, BATCH, &deal_ids()).await;
    w.quickbooks.harness().set_fault(
        format!("/v3/company/{US_REALM}/invoice"),
        sandbox::harness::FaultSpec {
            force_500: 4,
            ..sandbox::harness::FaultSpec::default()
        },
    );
    let first = run_page(&w, B, BATCH).await;
    let failed = first["progress"]["failed"].as_u64().unwrap();
    assert!(failed >= 1, "{first:#}");
    assert!(created_deals(&first).len() < 10);
    let with_error = first["deals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["state"] == "pending")
        .unwrap();
    assert!(
        with_error["error"].as_str().unwrap().contains("QuickBooks"),
        "{with_error}"
    );
    w.quickbooks.harness().clear_faults();

    let resumed = run_to_end(&w, B, BATCH).await;
    assert_eq!(resumed["progress"]["pending"], 0, "{resumed:#}");
    assert_eq!(created_deals(&resumed), ready_ids());
    let (posts, invoices) = created_invoices(&w);
    assert_eq!((posts, invoices.len()), (10, 10));
    // Each ready deal has one invoice link.
    for deal in ready_ids() {
        let links = w
            .app
            .records
            .all_deal_invoice_links(CompanyId(COMPANY_B), DealId(deal))
            .await
            .unwrap();
        assert_eq!(links.len(), 1, "deal {deal}");
    }
}

#[tokio::test]
async fn a_batch_larger_than_a_page_is_run_in_pages_and_resumed_where_it_stopped() {
    let w = world_with(30).await;
    let ids = ids_of(30);
    create_batch(&w, B, BATCH, &ids).await;
    // One page (25 deals), then the tab closes.
    let first = run_page(&w, B, BATCH).await;
    assert_eq!(first["progress"]["pending"], 5, "{:#}", first["progress"]);
    let done_first = created_deals(&first);
    assert_eq!(done_first, ready_of(25));
    // Reopened: the same batch, its progress kept; the rest is run.
    let (status, kept) = w
        .call_json("GET", &format!("/api/bulk/batches/{BATCH}"), B, None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(kept["progress"], first["progress"]);
    let resumed = run_to_end(&w, B, BATCH).await;
    assert_eq!(resumed["progress"]["pending"], 0);
    assert_eq!(created_deals(&resumed), ready_of(30));
    let (posts, invoices) = created_invoices(&w);
    assert_eq!((posts, invoices.len()), (12, 12));
}

#[tokio::test]
async fn another_companys_deal_ids_are_refused_per_deal_and_never_created() {
    let w = world_with_deals().await;
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    // Deals 3, 4 and 5 are company A's only; 3001 is B's.
    let (status, view) = create_batch(&w, B, BATCH, &[3, 4, 5, FIRST + 3]).await;
    assert_eq!(status, 201, "{view}");
    let done = run_to_end(&w, B, BATCH).await;
    let states = outcomes(&done);
    assert_eq!(
        states,
        vec![
            (3, "not_invoiced".to_string()),
            (4, "not_invoiced".to_string()),
            (5, "not_invoiced".to_string()),
            (FIRST + 3, "created".to_string()),
        ]
    );
    assert!(
        done["deals"][0]["sentence"]
            .as_str()
            .unwrap()
            .starts_with("Pipedrive has no deal 3 that you can see")
    );
    assert!(w.invoice_posts(GB_REALM).is_empty());
    assert_eq!(created_invoices(&w).0, 1);

    // Company A cannot read or run B's batch.
    let path = format!("/api/bulk/batches/{BATCH}");
    let (status, problem) = w
        .call_json("GET", &path, (COMPANY_A, USER_A_ADMIN), None, None)
        .await;
    assert_eq!(status, 404, "{problem}");
    let (status, _) = w
        .call_json(
            "POST",
            &format!("{path}/run"),
            (COMPANY_A, USER_A_ADMIN),
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
    // The same id for other deals is refused with a sentence.
    let (status, problem) = create_batch(&w, B, BATCH, &[FIRST]).await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("already used"));
}

#[tokio::test]
async fn bad_input_is_a_problem_with_a_sentence() {
    let w = world_with_deals().await;
    let cases = [
        (json!({"batch_id": "nope", "deal_ids": [1]}), "UUID"),
        (json!({"batch_id": BATCH, "deal_ids": []}), "at least one"),
        (
            json!({"batch_id": BATCH, "deal_ids": (1..=101).collect::<Vec<u64>>()}),
            "at most 100",
        ),
        (
            json!({"batch_id": BATCH, "deal_ids": [1], "document": "receipt"}),
            "`invoice` or `estimate`",
        ),
    ];
    for (body, words) in cases {
        let (status, problem) = w
            .call_json("POST", "/api/bulk/batches", B, Some(&body), None)
            .await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(words),
            "{problem}"
        );
    }
    let (status, problem) = w
        .call_json(
            "POST",
            "/api/bulk/readiness",
            B,
            Some(&json!({"deal_ids": (1..=26).collect::<Vec<u64>>()})),
            None,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let (status, _) = w
        .call_json("GET", "/api/bulk/batches/not-a-uuid", B, None, None)
        .await;
    assert_eq!(status, 400);
}
