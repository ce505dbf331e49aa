//! Data lifecycle against the moto-backed store (DynamoDB + Secrets Manager served by moto):
//! a company with everything the app keeps (profile, installs, customer and product links,
//! invoice links, idempotency records, activity, tokens) uninstalls — Pipedrive calls our
//! uninstall callback for each of its users — and afterwards a scan of the whole table finds no
//! item of that company and the secret list has no secret of it, while the other company's items
//! and secret are exactly as before. The counts go to `target/reliability/lifecycle.json`.

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use serde_json::json;
use shared::domain::CompanyId;
use std::collections::HashMap;
use std::sync::Arc;
use test_world::moto::{dynamo_client, new_dynamo_store, secrets_client, secrets_store};
use test_world::*;

const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

/// Every item of the table, as (pk, sk, the whole item rendered for searching).
async fn scan(table: &str) -> Vec<(String, String, String)> {
    let client = dynamo_client().await;
    let mut out = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan the moto table");
        for item in page.items() {
            let s = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            out.push((s("pk"), s("sk"), format!("{item:?}")));
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    out
}

/// Every secret name on the moto server starting with `prefix`.
async fn secret_names(prefix: &str) -> Vec<String> {
    let client = secrets_client().await;
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_secrets()
            .set_next_token(token.take())
            .max_results(100)
            .send()
            .await
            .expect("list the moto secrets");
        names.extend(
            page.secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_string))
                .filter(|n| n.starts_with(prefix)),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    names
}

fn mentions_company(pk: &str, sk: &str, rendered: &str, company: u64) -> bool {
    let key = format!("COMPANY#{company}");
    pk.contains(&key)
        || sk.contains(&key)
        || rendered.contains(&key)
        || rendered.contains(&format!("\"company_id\": N(\"{company}\")"))
        || rendered.contains(&format!("\"company_id\":{company}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_uninstall_no_item_and_no_secret_of_the_company_remains() {
    let dynamo = new_dynamo_store().await;
    let table = dynamo.table().to_string();
    let w = full_world()
        .store(Arc::new(dynamo))
        .secrets(secrets_store().await)
        .start()
        .await;
    w.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
    w.install(COMPANY_A, USER_A_MEMBER, false).await;
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;

    // Everything A can leave behind: links, an invoice (idempotency record, activity), a
    // customer created through the API.
    invoice_deal_2_of_a(&w, "lifecycle-a").await;
    let customer = w
        .call(
            "POST",
            "/api/quickbooks/customers",
            A,
            Some(&json!({"deal_id": 4, "display_name": "Nordlicht Studio"})),
            Some("lifecycle-customer"),
        )
        .await;
    assert!(
        customer.status == 201 || customer.status == 422,
        "{}",
        customer.text
    );
    w.link_customer(B, 1, "1").await;
    w.link_item(B, 1, "4").await;

    let a_secret = w.app.vault.secret_name(CompanyId(COMPANY_A));
    let b_secret = w.app.vault.secret_name(CompanyId(COMPANY_B));
    let items_before = scan(&table).await;
    let a_items_before = items_before
        .iter()
        .filter(|(pk, sk, r)| mentions_company(pk, sk, r, COMPANY_A))
        .count();
    assert!(
        a_items_before >= 7,
        "A has data to remove: {a_items_before} items"
    );
    assert_eq!(
        secret_names(&format!("{}/", w.prefix)).await.len(),
        2,
        "one secret per company"
    );
    let b_before = w.records(COMPANY_B).await;
    let b_secret_before = w.secrets.get(&b_secret).await.unwrap();

    // Pipedrive uninstalls A's users one by one (its uninstall call with the app's Basic
    // credentials); the first leaves the company in place, the last purges it.
    let status = w
        .pipedrive
        .fire_uninstall(COMPANY_A, USER_A_MEMBER)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        scan(&table)
            .await
            .iter()
            .any(|(pk, _, _)| pk == &format!("COMPANY#{COMPANY_A}")),
        "the company stays while one of its users has the app"
    );
    let status = w
        .pipedrive
        .fire_uninstall(COMPANY_A, USER_A_ADMIN)
        .await
        .unwrap();
    assert_eq!(status, 200);

    let items_after = scan(&table).await;
    let left: Vec<_> = items_after
        .iter()
        .filter(|(pk, sk, r)| mentions_company(pk, sk, r, COMPANY_A))
        .collect();
    assert!(left.is_empty(), "no item of A remains: {left:#?}");
    let secrets_after = secret_names(&format!("{}/", w.prefix)).await;
    assert!(
        !secrets_after.contains(&a_secret),
        "no secret of A remains: {secrets_after:?}"
    );
    assert!(
        secrets_after
            .iter()
            .all(|n| !n.contains(&COMPANY_A.to_string())),
        "{secrets_after:?}"
    );
    // The other company is untouched.
    assert_eq!(w.records(COMPANY_B).await, b_before, "B's items are intact");
    assert_eq!(secrets_after, vec![b_secret.clone()]);
    assert_eq!(w.secrets.get(&b_secret).await.unwrap(), b_secret_before);
    let b = w.call("GET", "/api/deals/1/draft", B, None, None).await;
    assert_eq!(b.status, 200, "B still works: {}", b.text);
    // A's users are gone: their tokens are refused as not installed.
    let a = w.call("GET", "/api/settings", A, None, None).await;
    assert_eq!(a.status, 403, "{}", a.text);

    write_counts(
        "lifecycle",
        json!({
            "items_of_company_before": a_items_before,
            "items_of_company_after": left.len(),
            "table_items_scanned": items_after.len(),
            "secrets_listed": secrets_after.len(),
        }),
    );
}
