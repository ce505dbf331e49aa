//! The install handlers invoked the way Lambda invokes them: API Gateway HTTP API (v2) events
//! for Pipedrive's uninstall `DELETE` (Basic auth, JSON body) and a cancelled install redirect
//! (query string).

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::app::testing::{embedded_app, seed_install, tenant};
use shared::domain::{CompanyId, UserId};
use tower::ServiceExt;

fn event(method: &str, path: &str, query: &str, headers: Value, body: Option<String>) -> String {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "Pipedrive"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "27/Nov/2026:03:00:00 +0000",
            "timeEpoch": 1795748400000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

async fn invoke(app: &shared::app::App, raw: &str) -> (u16, String) {
    let request = lambda_http::request::from_str(raw).expect("a valid API Gateway v2 event");
    let (parts, body) = request.into_parts();
    let bytes = body.to_vec();
    let request = http::Request::from_parts(parts, Body::from(bytes));
    let router = shared::web::http::finish(install::router(app.clone()));
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn the_uninstall_callback_arrives_as_an_api_gateway_event() {
    let app = embedded_app();
    let t = tenant(54235233, 777);
    seed_install(&app, t, true).await;
    let seed_other = tenant(54235233, 778);
    seed_install(&app, seed_other, false).await;
    let body = json!({"client_id": "pd-client", "company_id": 54235233, "user_id": 777,
                      "timestamp": "2026-11-27T03:00:00.000Z"})
    .to_string();
    let wrong = format!("Basic {}", STANDARD.encode("pd-client:nope"));
    let raw = event(
        "DELETE",
        "/oauth/pipedrive/callback",
        "",
        json!({"authorization": wrong, "content-type": "application/json"}),
        Some(body.clone()),
    );
    let (status, answer) = invoke(&app, &raw).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        app.records
            .get_user_install(CompanyId(54235233), UserId(777))
            .await
            .unwrap()
            .is_some()
    );

    let right = format!("Basic {}", STANDARD.encode("pd-client:pd-client-secret"));
    let raw = event(
        "DELETE",
        "/oauth/pipedrive/callback",
        "",
        json!({"authorization": right, "content-type": "application/json"}),
        Some(body),
    );
    let (status, answer) = invoke(&app, &raw).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        app.records
            .get_user_install(CompanyId(54235233), UserId(777))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.records
            .get_company(CompanyId(54235233))
            .await
            .unwrap()
            .is_some(),
        "another user still has the app"
    );
}

#[tokio::test]
async fn a_cancelled_install_arrives_with_its_query_string() {
    let app = embedded_app();
    let raw = event(
        "GET",
        "/oauth/pipedrive/callback",
        "error=access_denied",
        json!({"accept": "text/html"}),
        None,
    );
    let (status, page) = invoke(&app, &raw).await;
    assert_eq!(status, 200);
    assert!(page.contains("Installation cancelled"), "{page}");
}
