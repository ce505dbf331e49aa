//! The create invoked the way Lambda invokes it: an API Gateway HTTP API (v2) event.

mod support;

use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::app::testing::{sign_token, tenant};
use support::*;
use tower::ServiceExt;

fn event(method: &str, path: &str, route: &str, token: &str, key: &str, body: &Value) -> String {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "authorization": format!("Bearer {token}"),
            "content-type": "application/json",
            "idempotency-key": key,
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "x-forwarded-proto": "https"
        },
        "pathParameters": {"deal_id": "1"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": format!("{method} {route}"),
            "stage": "$default",
            "time": "27/Nov/2026:03:00:00 +0000",
            "timeEpoch": 1795748400000u64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
    .to_string()
}

#[tokio::test]
async fn an_api_gateway_v2_event_creates_the_invoice() {
    let w = World::embedded().await;
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
    assert_eq!(w.qb.invoices(US_REALM).unwrap().len(), 1);
}
