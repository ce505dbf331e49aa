//! Helpers shared by the `pipedrive_*` integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::any;
use sandbox::harness::RunningServer;
use sandbox::pipedrive::shape::shape_diff;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use serde_json::Value;

pub const CLIENT_ID: &str = "b4d083d9216986345b32";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const JWT_SECRET: &str = "test-jwt-secret";

/// A published payload from `tests/fixtures/pipedrive/`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/pipedrive/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Asserts `actual` has the shape of the fixture.
pub fn assert_shape(name: &str, actual: &Value, allow_extra: &[&str], ignore: &[&str]) {
    let diffs = shape_diff(&fixture(name), actual, allow_extra, ignore);
    assert!(
        diffs.is_empty(),
        "{name}: the simulator's answer differs in shape:\n  {}\nanswer: {actual:#}",
        diffs.join("\n  ")
    );
}

/// An HTTP client that does not follow redirects (so tests read `Location`).
pub fn http() -> reqwest::Client {
    shared::clients::outbound::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn config(callback: &str) -> PipedriveConfig {
    let mut config = PipedriveConfig::new(CLIENT_ID, CLIENT_SECRET, callback);
    config.jwt_secret = JWT_SECRET.into();
    config
}

/// A simulator with the test app registered (callback on a port nobody listens on).
pub async fn start() -> (PipedriveSim, RunningServer) {
    PipedriveSim::start(config("http://127.0.0.1:9/oauth/callback"))
        .await
        .unwrap()
}

/// One request the fake app received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// A tiny app server that records every request and answers 200.
pub async fn start_receiver() -> (RunningServer, Arc<Mutex<Vec<Received>>>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = received.clone();
    let router = Router::new().fallback(any(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                sink.lock().unwrap().push(Received {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    authorization: header("authorization"),
                    content_type: header("content-type"),
                    body,
                });
                "ok"
            }
        },
    ));
    let server = sandbox::harness::serve(router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (server, received)
}

/// GET with a Bearer token; returns status, headers and JSON body.
pub async fn get(url: &str, token: &str) -> (u16, HeaderMap, Value) {
    let response = http().get(url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}
