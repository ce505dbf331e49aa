//! The install handlers invoked the way Lambda invokes them: API Gateway HTTP API (v2) events
//! for Pipedrive's uninstall `DELETE` (Basic auth, JSON body) and a cancelled install redirect
//! (query string).

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use shared::domain::{CompanyId, UserId};
use test_world::{apigw, embedded_app, oneshot, seed_install, tenant};

fn event(method: &str, path: &str, query: &str, headers: Value, body: Option<String>) -> String {
    let mut event = apigw::event(method, path)
        .query(query)
        .user_agent("Pipedrive");
    for (name, value) in headers.as_object().into_iter().flatten() {
        event = event.header(name, value.as_str().unwrap_or_default());
    }
    if let Some(body) = body {
        event = event.body(body);
    }
    event.to_string()
}

async fn invoke(app: &shared::app::App, raw: &str) -> (u16, String) {
    let request = lambda_http::request::from_str(raw).expect("a valid API Gateway v2 event");
    let (parts, body) = request.into_parts();
    let bytes = body.to_vec();
    let request = http::Request::from_parts(parts, Body::from(bytes));
    let router = shared::web::http::finish(install::router(app.clone()));
    let reply = oneshot(router, request).await;
    (reply.status.as_u16(), reply.text())
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
