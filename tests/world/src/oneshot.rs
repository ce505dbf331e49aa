//! One request straight into a router (no socket), as `lambda_http` hands a request over.

use axum::Router;
use axum::body::{Body, Bytes};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// What the router answered.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

pub async fn oneshot(router: Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    Reply {
        status,
        headers,
        bytes,
    }
}

/// A QuickBooks webhook delivery as Intuit sends it (`intuit-signature` when given).
pub async fn deliver_webhook(router: Router, body: &str, signature: Option<&str>) -> Reply {
    let mut request = Request::builder()
        .method("POST")
        .uri("/webhooks/quickbooks")
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("intuit-signature", signature);
    }
    let request = request
        .body(Body::from(body.to_string()))
        .expect("a request");
    oneshot(router, request).await
}
