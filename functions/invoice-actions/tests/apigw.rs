//! The function invoked the way Lambda invokes it: API Gateway v2 events through `lambda_http`'s
//! adapter (the very code `lambda_http::run` uses), so the PDF's base64 encoding and headers are
//! what API Gateway receives. And the router merged with another function's routes on the same
//! paths, as the local server does.

mod support;

use axum::Router;
use axum::routing::{post, put};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use rust_decimal_macros::dec;
use serde_json::Value;
use support::*;

fn event(method: &str, path: &str, token: &str) -> LambdaRequest {
    let event = apigw::event(method, path)
        .header("accept", "application/pdf, application/problem+json")
        .bearer(token);
    serde_json::from_value(event.json()).expect("an API Gateway v2 event")
}

/// What the Lambda runtime would send back to API Gateway.
async fn invoke(w: &World, request: LambdaRequest) -> Value {
    let router = shared::web::http::finish(invoice_actions::router(w.app.clone()));
    let adapter = lambda_http::Adapter::from(router);
    let response = adapter
        .oneshot(LambdaEvent::new(request, Context::default()))
        .await
        .expect("the router never fails");
    serde_json::to_value(&response).expect("a serialisable Lambda response")
}

#[tokio::test]
async fn the_pdf_goes_through_api_gateway_base64_encoded() {
    let w = standard().await;
    let (invoice, _) = w.acme_invoice(dec!(500)).await;
    let id = invoice.id.unwrap();
    let doc = invoice.doc_number.unwrap();
    let token = sign_token(tenant(COMPANY_A, USER_A_ADMIN));
    let path = format!("/api/deals/{DEAL}/invoices/{id}/pdf");
    let answer = invoke(&w, event("GET", &path, &token)).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(
        answer["isBase64Encoded"], true,
        "binary bodies are base64 for API Gateway"
    );
    assert_eq!(answer["headers"]["content-type"], "application/pdf");
    assert_eq!(
        answer["headers"]["content-disposition"],
        format!("attachment; filename=\"Invoice-{doc}.pdf\"")
    );
    assert_eq!(answer["headers"]["cache-control"], "private, no-store");
    let body = STANDARD
        .decode(answer["body"].as_str().expect("a body"))
        .expect("base64");
    assert!(body.starts_with(b"%PDF"));
    let direct = w.a("GET", &format!("/invoices/{id}/pdf"), None).await;
    assert_eq!(body, direct.bytes, "the same document as over plain HTTP");

    // Problems stay text.
    let missing = format!("/api/deals/{OTHER_DEAL}/invoices/{id}/pdf");
    let answer = invoke(&w, event("GET", &missing, &token)).await;
    assert_eq!(answer["statusCode"], 404);
    assert_eq!(answer["isBase64Encoded"], false);
    assert_eq!(
        answer["headers"]["content-type"],
        "application/problem+json"
    );
    let problem: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["status"], 404);

    // The list, as JSON text.
    let answer = invoke(
        &w,
        event("GET", &format!("/api/deals/{DEAL}/invoices"), &token),
    )
    .await;
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["isBase64Encoded"], false);
    let list: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(list["invoices"][0]["invoice_id"], id.as_str());
}

#[tokio::test]
async fn the_router_merges_with_other_functions_on_shared_paths() {
    let w = standard().await;
    // Another function (invoice-create) serves other methods on two of these paths.
    let other = Router::new()
        .route(
            "/api/deals/{deal_id}/invoices",
            post(|| async { "created" }),
        )
        .route(
            "/api/deals/{deal_id}/customer-link",
            put(|| async { "linked" }),
        );
    let merged = shared::web::http::finish(
        Router::new()
            .merge(invoice_actions::router(w.app.clone()))
            .merge(other),
    );
    let server = sandbox::harness::serve(merged, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = sign_token(tenant(COMPANY_A, USER_A_ADMIN));
    let url = |p: &str| format!("{}{p}", server.base_url());
    let get = w
        .http
        .get(url("/api/deals/1/invoices"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let post = w
        .http
        .post(url("/api/deals/1/invoices"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.text().await.unwrap(), "created");
    let put = w
        .http
        .put(url("/api/deals/1/customer-link"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.text().await.unwrap(), "linked");
    let delete = w
        .http
        .delete(url("/api/deals/1/customer-link"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 200, "DELETE is ours");
}
