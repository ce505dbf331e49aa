//! QuickBooks may answer an invoice's `CustomerRef` without its `name` (seen against a stand-in
//! written independently of our simulator, and allowed by Intuit's docs: `name` is optional on a
//! reference). The deal's invoice rows then show the linked customer's name, never `null`.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use http_body_util::BodyExt;
use integration_tests::full_world;
use serde_json::Value;
use test_world::{COMPANY_A, US_REALM, USER_A_ADMIN};

const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);

/// Every `CustomerRef` in `value`, its `name` removed.
fn strip_names(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(reference)) = map.get_mut("CustomerRef") {
                reference.remove("name");
            }
            map.values_mut().for_each(strip_names);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_names),
        _ => {}
    }
}

/// The QuickBooks simulator's answers with the customer names left out.
async fn without_customer_names(request: Request, next: Next) -> axum::response::Response {
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut json) => {
            strip_names(&mut json);
            Body::from(json.to_string())
        }
        Err(_) => Body::from(bytes),
    };
    let mut response = axum::response::Response::from_parts(parts, body);
    response.headers_mut().remove(http::header::CONTENT_LENGTH);
    response
}

/// The deal list's row of invoice `id`.
fn row_of(list: &Value, id: &str) -> Value {
    list["invoices"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["invoice_id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no row of {id} in {list:#}"))
}

#[tokio::test]
async fn invoice_rows_name_the_linked_customer_when_quickbooks_leaves_the_name_out() {
    let w = full_world()
        .quickbooks_layer(|_, router| {
            router.layer(axum::middleware::from_fn(without_customer_names))
        })
        .start()
        .await;
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).await;
    // Deal 3 (USD) billed to customer 1, its products linked.
    w.link_customer(A, 3, "1").await;
    for (product, item) in [(1, "3"), (2, "1"), (3, "2"), (4, "3"), (6, "4")] {
        w.link_item(A, product, item).await;
    }
    let linked_name = w.qb_customer(US_REALM, "1").display_name.clone().unwrap();
    let draft = w.ready_draft(A, 3).await;
    let created = w
        .call(
            "POST",
            "/api/deals/3/invoices",
            A,
            Some(&draft["form"]),
            Some("nameless"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["invoice"]["id"].as_str().unwrap().to_string();
    let raw = w.qb_invoice(US_REALM, &id);
    assert_eq!(
        raw.customer_ref.as_ref().map(|r| r.value.as_str()),
        Some("1")
    );

    let list = w.call("GET", "/api/deals/3/invoices", A, None, None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let row = row_of(&list.json, &id);
    assert_eq!(row["customer"]["name"], linked_name.as_str(), "{row:#}");
    // A refresh (QuickBooks still leaves the name out) keeps it.
    let refreshed = w
        .call("POST", "/api/deals/3/invoices/refresh", A, None, None)
        .await;
    let row = row_of(&refreshed.json, &id);
    assert_eq!(row["customer"]["name"], linked_name.as_str(), "{row:#}");
}
