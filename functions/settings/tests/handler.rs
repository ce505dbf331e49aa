//! The `settings` handler invoked the way Lambda invokes it (an API Gateway v2 event), and over
//! plain HTTP requests for the error paths.

use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use test_world::{embedded_app, oneshot, seed_install, sign_token, tenant};
use tower::ServiceExt;

const PUT_EVENT: &str = include_str!("../../../tests/fixtures/apigw/http-api-v2-put-settings.json");
const GET_EVENT: &str = include_str!("../../../tests/fixtures/apigw/http-api-v2-get-settings.json");

async fn call(
    app: &shared::app::App,
    request: http::Request<Body>,
) -> (http::StatusCode, http::HeaderMap, Value) {
    let router = shared::web::http::finish(settings::router(app.clone()));
    let reply = oneshot(router, request).await;
    (reply.status, reply.headers.clone(), reply.json())
}

fn request(
    method: &str,
    token: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> http::Request<Body> {
    http::Request::builder()
        .method(method)
        .uri("/api/settings")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn api_gateway_v2_events_reach_the_handler() {
    let app = embedded_app();
    let t = tenant(54235233, 777);
    seed_install(&app, t, true).await;
    let router = shared::web::http::finish(settings::router(app.clone()));

    let event = GET_EVENT.replace("{{TOKEN}}", &sign_token(t));
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["settings"]["access"], "all_installed_users");

    // A PUT event with a body: validated before anything is stored.
    let mut doc = json!({"version": 1, "settings": serde_json::to_value(shared::domain::Settings::default()).unwrap()});
    doc["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 366});
    let event = PUT_EVENT
        .replace("{{TOKEN}}", &sign_token(t))
        .replace("{{BODY}}", &doc.to_string().replace('"', "\\\""));
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 422);
    let stored = app
        .records
        .get_company(t.company_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 1, "nothing saved");
}

#[tokio::test]
async fn defaults_exist_before_anyone_saves() {
    let app = embedded_app();
    let t = tenant(1, 2);
    seed_install(&app, t, false).await;
    let (status, _, body) = call(
        &app,
        request("GET", &sign_token(t), "application/json", Body::empty()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["settings"]["mapping"]["to"],
        json!({"entity": "organization", "key": "name"})
    );
    assert_eq!(body["settings"]["access"], "all_installed_users");
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = embedded_app();
    let t = tenant(1, 2);
    seed_install(&app, t, true).await;
    let (status, headers, body) = call(
        &app,
        request("PUT", &sign_token(t), "application/json", "{\"version\": "),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["status"], 400);
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = embedded_app();
    let t = tenant(1, 2);
    seed_install(&app, t, true).await;
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    let (status, headers, body) = call(
        &app,
        request("PUT", &sign_token(t), "application/json", huge),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        body["type"],
        "urn:pipedrive-quickbooks:problem:payload-too-large"
    );
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415_problem() {
    let app = embedded_app();
    let t = tenant(1, 2);
    seed_install(&app, t, true).await;
    let (status, headers, _) = call(&app, request("PUT", &sign_token(t), "text/plain", "{}")).await;
    assert_eq!(status, 415);
    assert_eq!(headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn out_of_range_and_unknown_fields_are_422() {
    let app = embedded_app();
    let t = tenant(1, 2);
    seed_install(&app, t, true).await;
    let mut doc = json!({"version": 1, "settings": serde_json::to_value(shared::domain::Settings::default()).unwrap()});
    doc["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 400});
    let (status, _, body) = call(
        &app,
        request("PUT", &sign_token(t), "application/json", doc.to_string()),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "settings.due_date.days");
    doc["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 3});
    doc["settings"]["surprise"] = json!(true);
    let (status, _, _) = call(
        &app,
        request("PUT", &sign_token(t), "application/json", doc.to_string()),
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_save_from_an_old_version_gets_409_with_the_current_settings() {
    let app = embedded_app();
    let t = tenant(1, 2);
    seed_install(&app, t, true).await;
    let settings = serde_json::to_value(shared::domain::Settings::default()).unwrap();
    let stale = json!({"version": 0, "settings": settings});
    let (status, _, body) = call(
        &app,
        request("PUT", &sign_token(t), "application/json", stale.to_string()),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["current"]["version"], 1);
    assert_eq!(body["current"]["settings"]["access"], "all_installed_users");
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_and_other_companies_see_nothing() {
    let app = embedded_app();
    let a = tenant(1, 2);
    seed_install(&app, a, true).await;
    let (status, _, body) = call(
        &app,
        request("GET", "not-a-jwt", "application/json", Body::empty()),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body["type"],
        "urn:pipedrive-quickbooks:problem:unauthorized"
    );
    let b = tenant(99, 2);
    let (status, _, _) = call(
        &app,
        request("GET", &sign_token(b), "application/json", Body::empty()),
    )
    .await;
    assert_eq!(status, 403, "a company that never installed gets nothing");
    let (status, _, _) = call(
        &app,
        request("PUT", &sign_token(b), "application/json", "{}"),
    )
    .await;
    assert!(status.is_client_error());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problem_json() {
    let app = embedded_app();
    let req = http::Request::builder()
        .uri("/api/nope")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(&app, req).await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
    let req = http::Request::builder()
        .method("DELETE")
        .uri("/api/settings")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(&app, req).await;
    assert_eq!(status, 405);
    assert_eq!(headers["content-type"], "application/problem+json");
}
