//! The create invoked the way Lambda invokes it: an API Gateway HTTP API (v2) event.

mod support;

use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::*;
use tower::ServiceExt;

fn event(method: &str, path: &str, route: &str, token: &str, key: &str, body: &Value) -> String {
    apigw::event(method, path)
        .route(route)
        .header("accept", "application/json")
        .bearer(token)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .field("pathParameters", json!({"deal_id": "1"}))
        .body(body.to_string())
        .to_string()
}

#[tokio::test]
async fn an_api_gateway_v2_event_creates_the_invoice() {
    let w = world().start().await;
    w.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
    let who = (COMPANY_B, USER_B_ADMIN);
    w.link_customer(who, 1, "3").await;
    w.link_item(who, 1, "4").await;
    w.link_item(who, 2, "2").await;
    let form = w.draft(who, 1).await["form"].clone();
    let raw = event(
        "POST",
        "/api/deals/1/invoices",
        "/api/deals/{deal_id}/invoices",
        &sign_token(tenant(COMPANY_B, USER_B_ADMIN)),
        "apigw-key-1",
        &form,
    );
    let request = lambda_http::request::from_str(&raw).expect("a valid API Gateway v2 event");
    let router = shared::web::http::finish(invoice_create::router(w.app.clone()));
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["invoice"]["currency"], "USD");
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 1);
}
