//! Tenant isolation: two companies with overlapping deal ids (deal 1 exists in both) and
//! overlapping QuickBooks invoice ids (each on its own realm). EVERY `/api/*` route — taken
//! programmatically from `local::function_routes()` and the functions' `ROUTES`, so a new route
//! is covered the day it lands — is called with company B's token against company A's ids: the
//! answer is a 404 (403 where B is simply not allowed) and carries none of A's data; routes
//! without ids (company-wide) answer B's own data, again without A's. A's records and secrets
//! are unchanged afterwards. The count is written to `target/reliability/isolation.json`.

use integration_tests::*;
use serde_json::{Value, json};
use test_world::*;

const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

/// A customer name only company A's QuickBooks has.
const A_MARKER_CUSTOMER: &str = "Zyx Isolation Marker";

struct Seeded {
    w: World,
    /// A's invoices on deal 3 (a deal only A has).
    a_only_invoice: String,
    /// A's estimate on deal 3.
    a_only_estimate: String,
    /// An invoice id both companies have (A's on deal 1, B's on deal 1).
    shared_invoice: Option<String>,
    /// Strings only A's data contains.
    a_markers: Vec<String>,
}

async fn seeded() -> Seeded {
    let w = full_world().start().await;
    // A on the US realm (deals 1 in EUR and 3 in USD); B on a second US realm seeded alike, so
    // both realms number their invoices the same way (B's deal 1 is in USD).
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).await;
    w.quickbooks
        .seed_realm(&sandbox::quickbooks::RealmSeed::us(SECOND_US_REALM));
    w.connect(COMPANY_B, USER_B_ADMIN, SECOND_US_REALM).await;

    w.link_customer(A, 1, "4").await;
    w.link_customer(A, 3, "1").await;
    for (product, item) in [(1, "3"), (2, "1"), (3, "2"), (4, "3"), (6, "4")] {
        w.link_item(A, product, item).await;
    }
    let marker = w
        .call(
            "POST",
            "/api/quickbooks/customers",
            A,
            Some(&json!({"deal_id": 5, "display_name": A_MARKER_CUSTOMER, "currency": "EUR"})),
            Some("isolation-marker"),
        )
        .await;
    assert_eq!(marker.status, 201, "{}", marker.text);

    let c = w
        .call(
            "POST",
            "/api/quickbooks/customers",
            B,
            Some(&json!({"deal_id": 1, "display_name": "Bolt Freight Co.", "email": "riley@bolt-freight.example"})),
            Some("isolation-customer-b"),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.text);
    w.link_item(B, 1, "4").await;
    w.link_item(B, 2, "2").await;

    let mut a_ids = Vec::new();
    let mut a_markers = vec![A_MARKER_CUSTOMER.to_string()];
    for (deal, n) in [(1u64, 2usize), (3, 1)] {
        let mut draft = w.ready_draft(A, deal).await;
        // Two alike on purpose: no "create another?" question.
        draft["form"]["confirm_duplicate"] = json!(true);
        for i in 0..n {
            let a = w
                .call(
                    "POST",
                    &format!("/api/deals/{deal}/invoices"),
                    A,
                    Some(&draft["form"]),
                    Some(&format!("isolation-a-{deal}-{i}")),
                )
                .await;
            assert_eq!(a.status, 201, "{}", a.text);
            a_ids.push((deal, a.json["invoice"]["id"].as_str().unwrap().to_string()));
            if let Some(name) = a.json["invoice"]["customer_name"].as_str() {
                a_markers.push(name.to_string());
            }
        }
    }
    let estimate = w
        .call(
            "POST",
            "/api/deals/3/estimates",
            A,
            Some(&w.ready_draft(A, 3).await["form"]),
            Some("isolation-a-estimate"),
        )
        .await;
    assert_eq!(estimate.status, 201, "{}", estimate.text);
    let a_only_estimate = estimate.json["estimate"]["estimate_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut draft = w.ready_draft(B, 1).await;
    draft["form"]["confirm_duplicate"] = json!(true);
    let mut b_ids = Vec::new();
    // Two invoices: A's first two ids (deal 1) exist in B too, A's third (deal 3) does not.
    for i in 0..2 {
        let b = w
            .call(
                "POST",
                "/api/deals/1/invoices",
                B,
                Some(&draft["form"]),
                Some(&format!("isolation-b-{i}")),
            )
            .await;
        assert_eq!(b.status, 201, "{}", b.text);
        b_ids.push(b.json["invoice"]["id"].as_str().unwrap().to_string());
    }
    let a_only_invoice = a_ids
        .iter()
        .find(|(deal, id)| *deal == 3 && !b_ids.contains(id))
        .map(|(_, id)| id.clone())
        .expect("an invoice id of A that B does not have");
    let shared_invoice = a_ids
        .iter()
        .find(|(deal, id)| *deal == 1 && b_ids.contains(id))
        .map(|(_, id)| id.clone());
    assert!(
        shared_invoice.is_some(),
        "the two realms number invoices alike, so ids overlap: A {a_ids:?}, B {b_ids:?}"
    );
    // Only what B's own QuickBooks cannot hold too (both realms are seeded alike).
    let b_names: Vec<String> = w
        .quickbooks
        .customers(SECOND_US_REALM)
        .unwrap()
        .into_iter()
        .filter_map(|c| c.display_name)
        .collect();
    a_markers.retain(|m| !b_names.contains(m));
    a_markers.sort();
    a_markers.dedup();
    assert!(a_markers.contains(&A_MARKER_CUSTOMER.to_string()));
    Seeded {
        w,
        a_only_invoice,
        a_only_estimate,
        shared_invoice,
        a_markers,
    }
}

/// Company A's bulk batch.
const A_BATCH: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// A second US company in the QuickBooks simulator (same seed, own ids).
const SECOND_US_REALM: &str = "9341453050420099";

/// The body a route gets (plausible enough to pass validation and reach the tenant checks).
fn body_for(method: &str, path: &str, a_form: &Value) -> Option<Value> {
    Some(match (method, path) {
        ("POST", "/api/deals/{deal_id}/invoices" | "/api/deals/{deal_id}/estimates") => {
            a_form.clone()
        }
        ("POST", p) if p.ends_with("/answer") => json!({"answer": "accepted"}),
        ("POST", "/api/deals/{deal_id}/estimates/{estimate_id}/invoice") => {
            json!({"part": {"kind": "percentage", "percent": 30}})
        }
        ("PUT", "/api/deals/{deal_id}/customer-link") => {
            json!({"customer_id": "1", "update_customer": false})
        }
        ("PUT", "/api/products/{product_id}/item-link") => json!({"item_id": "3"}),
        ("POST", p) if p.ends_with("/void") || p.ends_with("/delete") => json!({"confirm": true}),
        ("POST", p) if p.ends_with("/send") => json!({"to": "probe@example.com"}),
        ("POST", "/api/quickbooks/customers") => {
            json!({"deal_id": 3, "display_name": "Isolation probe"})
        }
        ("POST", "/api/products/{product_id}/item") => {
            json!({"name": "Isolation probe item", "income_account_id": "1", "unit_price": "1"})
        }
        ("POST", "/api/bulk/readiness") => json!({"deal_ids": [3, 4]}),
        ("POST", "/api/bulk/batches") => {
            json!({"batch_id": "0e2b7c1a-5d3f-4b8e-9a6c-7f1e2d3c4b5a", "deal_ids": [3, 4]})
        }
        ("GET", _) | ("DELETE", _) => return None,
        _ => json!({}),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_across_the_company_boundary_is_a_404_without_data() {
    let s = seeded().await;
    let w = &s.w;
    let a_form = w.ready_draft(A, 3).await["form"].clone();
    // A's own bulk batch (B probes its id).
    let a_batch = w
        .call(
            "POST",
            "/api/bulk/batches",
            A,
            Some(&json!({"batch_id": A_BATCH, "deal_ids": [3]})),
            None,
        )
        .await;
    assert_eq!(a_batch.status, 201, "{}", a_batch.text);
    let a_before = w.records(COMPANY_A).await;
    let a_secret_before = w
        .secrets
        .get(
            &w.app
                .vault
                .secret_name(shared::domain::CompanyId(COMPANY_A)),
        )
        .await
        .unwrap();

    let mut routes: Vec<_> = all_routes()
        .into_iter()
        .filter(|(_, r)| r.path.starts_with("/api/"))
        .collect();
    // Company-wide writes that end B's own session with QuickBooks go last.
    routes.sort_by_key(|(_, r)| r.path.contains("disconnect"));
    assert!(
        routes.len() >= 20,
        "every /api route is covered: {}",
        routes.len()
    );

    let mut failures = Vec::new();
    let mut tried = 0;
    let mut scoped = 0;
    let mut refused_calls = 0;
    for (function, route) in &routes {
        let has_ids = route.path.contains('{');
        let mut targets = vec![(
            route
                .path
                .replace("{deal_id}", "3")
                .replace("{invoice_id}", &s.a_only_invoice)
                .replace("{estimate_id}", &s.a_only_estimate)
                .replace("{product_id}", "6")
                .replace("{batch_id}", A_BATCH),
            true,
        )];
        if let Some(shared) = &s.shared_invoice
            && route.path.contains("{invoice_id}")
        {
            // Deal 1 exists in both companies and B has an invoice with this id: B may see its
            // own invoice, never A's.
            targets.push((
                route
                    .path
                    .replace("{deal_id}", "1")
                    .replace("{invoice_id}", shared),
                false,
            ));
        }
        for (path, must_be_404) in targets {
            let path = match route.path {
                "/api/quickbooks/customers" | "/api/quickbooks/items" if route.method == "GET" => {
                    format!("{path}?search=Zyx")
                }
                "/api/quickbooks/exchange-rate" => format!("{path}?from=EUR&to=USD"),
                _ => path,
            };
            let body = body_for(route.method, route.path, &a_form);
            let a = w
                .call(
                    route.method,
                    &path,
                    B,
                    body.as_ref(),
                    Some("isolation-probe"),
                )
                .await;
            tried += 1;
            let leaked: Vec<&String> = s
                .a_markers
                .iter()
                .filter(|m| a.text.contains(m.as_str()))
                .collect();
            if !leaked.is_empty() {
                failures.push(format!(
                    "{function}: {} {path} leaked A's data {leaked:?}: {}",
                    route.method, a.text
                ));
            }
            if a.status >= 500 {
                failures.push(format!(
                    "{function}: {} {path}: {} {}",
                    route.method, a.status, a.text
                ));
            }
            if has_ids && must_be_404 {
                scoped += 1;
                let refused = (a.status == 404 || a.status == 403) && a.is_problem();
                if refused {
                    refused_calls += 1;
                } else {
                    failures.push(format!(
                        "{function}: {} {path} answered {} (expected 404): {}",
                        route.method,
                        a.status,
                        a.text.chars().take(300).collect::<String>()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} cross-company calls misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        w.records(COMPANY_A).await,
        a_before,
        "A's records are unchanged"
    );
    assert_eq!(
        w.secrets
            .get(
                &w.app
                    .vault
                    .secret_name(shared::domain::CompanyId(COMPANY_A))
            )
            .await
            .unwrap(),
        a_secret_before,
        "A's tokens are unchanged"
    );
    // And A still sees its own data (the probe did not break anything).
    let mine = w.call("GET", "/api/deals/3/invoices", A, None, None).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert!(mine.text.contains(&s.a_only_invoice));
    write_counts(
        "isolation",
        json!({
            "api_routes": routes.len(),
            "cross_company_calls": tried,
            "id_scoped_calls": scoped,
            "id_scoped_refused": refused_calls,
        }),
    );
}
