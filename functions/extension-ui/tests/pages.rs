//! The `extension-ui` function over HTTP requests and as Lambda invokes it (an API Gateway v2
//! event): pages only with a verified token, the security headers on everything, the assets.

use axum::body::Body;
use serde_json::json;
use shared::app::Deployment;
use test_world::{
    TEST_JWT_SECRET, apigw, embedded_app, embedded_app_with, oneshot, sign_token, sign_token_with,
    tenant,
};
use tower::ServiceExt;

const PAGES: &[&str] = &[
    "/ui/panel",
    "/ui/modal",
    "/ui/settings",
    "/ui/invoices",
    "/ui/bulk",
];

/// The pages' configuration of a test app (its JWT key and frame ancestors).
fn pages(app: &shared::app::App) -> extension_ui::PagesConfig {
    extension_ui::PagesConfig {
        jwt: app.jwt.clone(),
        frame_ancestors: app.deployment.frame_ancestors.clone(),
        clock: app.clock.clone(),
    }
}

async fn get(app: &shared::app::App, uri: &str) -> (http::StatusCode, http::HeaderMap, String) {
    let router = shared::web::http::finish(extension_ui::router(pages(app)));
    let request = http::Request::builder()
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let reply = oneshot(router, request).await;
    (reply.status, reply.headers.clone(), reply.text())
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn assert_security_headers(headers: &http::HeaderMap, what: &str) {
    let csp = header(headers, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "frame-ancestors ",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: {directive} missing in {csp}"
        );
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(!csp.contains("cdn"), "{what}: {csp}");
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{what}");
}

#[tokio::test]
async fn every_page_is_served_with_a_valid_token_and_its_headers() {
    let app = embedded_app();
    let token = sign_token(tenant(54235233, 777));
    for page in PAGES {
        let (status, headers, html) = get(
            &app,
            &format!("{page}?resource=deal&selectedIds=42&companyId=54235233&userId=777&id=abc&token={token}"),
        )
        .await;
        assert_eq!(status, 200, "{page}");
        assert_security_headers(&headers, page);
        assert_eq!(header(&headers, "cache-control"), "no-store", "{page}");
        assert!(header(&headers, "content-type").starts_with("text/html"));
        // Nothing secret or request-specific in the page; scripts only from our assets.
        assert!(!html.contains(&token), "{page} embeds the token");
        assert!(!html.contains("54235233"), "{page} embeds the company");
        assert!(html.contains("<script src=\"/ui/assets/sdk.js\"></script>"));
        assert!(!html.contains("<script>"), "{page} has inline script");
    }
}

#[tokio::test]
async fn missing_expired_forged_and_mismatched_tokens_get_no_page() {
    let app = embedded_app();
    let t = tenant(1, 2);
    let valid = sign_token(t);
    let expired = sign_token_with(t, TEST_JWT_SECRET, -600);
    let forged = sign_token_with(t, "someone-elses-secret", 300);
    let mut tampered: Vec<String> = valid.split('.').map(str::to_string).collect();
    tampered[1] = tampered[1].chars().rev().collect();
    let tampered = tampered.join(".");
    let cases = [
        ("missing", String::new()),
        ("empty", "token=".to_string()),
        ("expired", format!("token={expired}")),
        ("forged", format!("token={forged}")),
        ("tampered", format!("token={tampered}")),
        ("garbage", "token=a.b.c".to_string()),
        ("other company", format!("companyId=99&token={valid}")),
        ("other user", format!("userId=99&token={valid}")),
        ("non-numeric company", format!("companyId=x&token={valid}")),
    ];
    for page in PAGES {
        for (name, query) in &cases {
            let (status, headers, html) = get(&app, &format!("{page}?{query}")).await;
            assert_eq!(status, 401, "{page} {name}");
            assert_security_headers(&headers, name);
            assert_eq!(header(&headers, "cache-control"), "no-store");
            assert!(
                !html.contains("<script"),
                "{page} {name}: a refused page runs no script"
            );
            assert!(!html.contains("/ui/assets/panel.js"));
        }
    }
    // The expired case says what to do.
    let (_, _, html) = get(&app, &format!("/ui/panel?token={expired}")).await;
    assert!(html.contains("expired"), "{html}");
}

#[tokio::test]
async fn assets_have_their_types_and_the_headers() {
    let app = embedded_app();
    for asset in extension_ui::ASSETS {
        let (status, headers, body) = get(&app, &format!("/ui/assets/{}", asset.name)).await;
        assert_eq!(status, 200, "{}", asset.name);
        assert_eq!(header(&headers, "content-type"), asset.content_type);
        assert_security_headers(&headers, asset.name);
        assert!(!body.is_empty());
    }
    let (_, headers, _) = get(&app, "/ui/assets/app.css").await;
    assert!(header(&headers, "content-type").starts_with("text/css"));
    let (_, headers, sdk) = get(&app, "/ui/assets/sdk.js").await;
    assert!(header(&headers, "content-type").starts_with("text/javascript"));
    assert!(sdk.contains("AppExtensionsSDK"), "the real SDK is served");
    assert_eq!(extension_ui::SDK_VERSION, "0.15.1");
    for missing in [
        "/ui/assets/nope.js",
        "/ui/assets/..%2Fsrc%2Flib.rs",
        "/ui/assets/.env",
    ] {
        let (status, headers, _) = get(&app, missing).await;
        assert_eq!(status, 404, "{missing}");
        assert_security_headers(&headers, missing);
    }
}

#[tokio::test]
async fn our_scripts_use_no_inline_handlers_no_cdn_and_no_stored_token() {
    for asset in extension_ui::ASSETS.iter().filter(|a| a.name != "sdk.js") {
        let body = asset.body;
        assert!(!body.contains("cdn."), "{} loads from a CDN", asset.name);
        assert!(!body.contains("innerHTML"), "{} writes HTML", asset.name);
        assert!(
            !body.contains("localStorage"),
            "{} stores something",
            asset.name
        );
        assert!(
            !body.contains("setAttribute('on"),
            "{} sets an inline handler",
            asset.name
        );
    }
    let common = extension_ui::asset("common.js").unwrap().body;
    assert!(
        common.contains("GET_SIGNED_TOKEN"),
        "a fresh token per API call"
    );
    let modal = extension_ui::asset("modal.js").unwrap().body;
    assert!(modal.contains("crypto.randomUUID()") && modal.contains("Idempotency-Key"));
}

#[tokio::test]
async fn frame_ancestors_come_from_the_deployment() {
    let mut deployment = Deployment::simulated(
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    );
    deployment.frame_ancestors = vec![
        "https://*.pipedrive.com".into(),
        "https://app.example".into(),
    ];
    let app = embedded_app_with(deployment);
    let (_, headers, _) = get(&app, "/ui/assets/app.css").await;
    assert!(
        header(&headers, "content-security-policy")
            .ends_with("frame-ancestors https://*.pipedrive.com https://app.example"),
        "{}",
        header(&headers, "content-security-policy")
    );
}

#[tokio::test]
async fn api_gateway_v2_events_reach_the_pages() {
    let app = embedded_app();
    let router = shared::web::http::finish(extension_ui::router(pages(&app)));
    let token = sign_token(tenant(54235233, 777));
    let query = format!(
        "resource=deal&view=details&selectedIds=42&companyId=54235233&userId=777&id=panel&theme=dark&token={token}"
    );
    let event = apigw::event("GET", "/ui/panel")
        .query(&query)
        .field(
            "queryStringParameters",
            json!({
                "resource": "deal", "view": "details", "selectedIds": "42", "companyId": "54235233",
                "userId": "777", "id": "panel", "theme": "dark", "token": token
            }),
        )
        .header("accept", "text/html");
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event");
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_security_headers(response.headers(), "event");

    // The same event with an expired token: refused.
    let expired = sign_token_with(tenant(54235233, 777), TEST_JWT_SECRET, -600);
    let event = event.to_string().replace(&token, &expired);
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
}
