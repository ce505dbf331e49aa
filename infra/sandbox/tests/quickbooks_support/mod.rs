//! Helpers shared by the QuickBooks simulator tests: a started simulator with an HTTP client, the
//! OAuth connect dance, fixture loading, a JSON shape comparator and a webhook receiver.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use http::HeaderMap;
use reqwest::StatusCode;
use sandbox::harness::{RunningServer, serve};
use sandbox::quickbooks::{Country, QuickBooksConfig, QuickBooksSim, RealmSeed};
use serde_json::Value;
use shared::wire::quickbooks::model::TokenResponse;

/// A US company with multi-currency off (so requests without CurrencyRef are valid, like the
/// published samples).
pub const US_SINGLE_CURRENCY_REALM: &str = "9341453050420003";

pub fn fixture_text(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/quickbooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn test_config() -> QuickBooksConfig {
    let mut config = QuickBooksConfig::default();
    config.realms.push(RealmSeed {
        realm_id: US_SINGLE_CURRENCY_REALM.into(),
        company_name: "Sandbox Single Currency Co".into(),
        country: Country::US,
        multi_currency: false,
        custom_txn_numbers: false,
        online_payments: true,
    });
    config
}

pub struct Qbo {
    pub sim: QuickBooksSim,
    pub server: RunningServer,
    pub http: reqwest::Client,
    pub base: String,
}

impl Qbo {
    pub async fn start() -> Qbo {
        Qbo::start_with(test_config()).await
    }

    pub async fn start_with(config: QuickBooksConfig) -> Qbo {
        let (sim, server) = QuickBooksSim::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let http = shared::clients::outbound::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = server.base_url();
        Qbo {
            sim,
            server,
            http,
            base,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// authorize → callback → token exchange; answers the tokens and the callback parameters.
    pub async fn connect(&self, realm: &str) -> (TokenResponse, BTreeMap<String, String>) {
        let config = self.sim.config().clone();
        let response = self
            .http
            .get(self.url("/connect/oauth2"))
            .query(&[
                ("client_id", config.client_id.as_str()),
                ("response_type", "code"),
                ("scope", "com.intuit.quickbooks.accounting"),
                ("redirect_uri", config.redirect_uris[0].as_str()),
                ("state", "csrf-123"),
                ("realm_id", realm),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "authorize should redirect"
        );
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&config.redirect_uris[0]), "{location}");
        let url = url::Url::parse(&location).unwrap();
        let params: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let (status, body) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", &config.redirect_uris[0]),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (serde_json::from_value(body).unwrap(), params)
    }

    /// POST to the token endpoint with HTTP Basic client auth.
    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let config = self.sim.config();
        let response = self
            .http
            .post(self.url("/oauth2/v1/tokens/bearer"))
            .basic_auth(&config.client_id, Some(&config.client_secret))
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            response.headers().contains_key("intuit_tid"),
            "intuit_tid header missing on {path}"
        );
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            response.headers().contains_key("intuit_tid"),
            "intuit_tid header missing on {path}"
        );
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn query(&self, token: &str, realm: &str, q: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(&format!("/v3/company/{realm}/query")))
            .query(&[("query", q), ("minorversion", "75")])
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The code of the first error of a Fault envelope.
pub fn fault_code(body: &Value) -> &str {
    body["Fault"]["Error"][0]["code"].as_str().unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Shape comparison.

/// The shape of a JSON value: kinds, keys, and whether a key is present in every sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `null` in the published payload, or kinds that differ between samples: anything goes.
    Any,
    Bool,
    Number,
    String,
    Array(Option<Box<Shape>>),
    /// key → (shape, present in every sample).
    Object(BTreeMap<String, (Shape, bool)>),
}

impl Shape {
    pub fn of(v: &Value) -> Shape {
        match v {
            Value::Null => Shape::Any,
            Value::Bool(_) => Shape::Bool,
            Value::Number(_) => Shape::Number,
            Value::String(_) => Shape::String,
            Value::Array(items) => Shape::Array(
                items
                    .iter()
                    .map(Shape::of)
                    .reduce(Shape::unify)
                    .map(Box::new),
            ),
            Value::Object(map) => Shape::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), (Shape::of(v), true)))
                    .collect(),
            ),
        }
    }

    /// The shape that accepts both samples; keys missing in one become optional.
    pub fn unify(self, other: Shape) -> Shape {
        match (self, other) {
            (Shape::Any, x) | (x, Shape::Any) => x,
            (Shape::Array(a), Shape::Array(b)) => Shape::Array(match (a, b) {
                (Some(a), Some(b)) => Some(Box::new(a.unify(*b))),
                (a, b) => a.or(b),
            }),
            (Shape::Object(mut a), Shape::Object(b)) => {
                let mut out = BTreeMap::new();
                for (k, (sb, rb)) in b {
                    match a.remove(&k) {
                        Some((sa, ra)) => {
                            out.insert(k, (sa.unify(sb), ra && rb));
                        }
                        None => {
                            out.insert(k, (sb, false));
                        }
                    }
                }
                for (k, (sa, _)) in a {
                    out.insert(k, (sa, false));
                }
                Shape::Object(out)
            }
            (a, b) if a == b => a,
            _ => Shape::Any,
        }
    }
}

/// What the comparison tolerates.
#[derive(Debug, Default, Clone)]
pub struct Tolerance<'a> {
    /// Keys the simulator may add (documented fields the sample happens not to show).
    pub extra: &'a [&'a str],
    /// Keys of the sample that depend on data the simulator's scenario does not have.
    pub optional: &'a [&'a str],
    /// Keys whose object values may carry any extra keys (entity bodies in CDC samples that only
    /// show `Id`).
    pub open: &'a [&'a str],
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(
    shape: &Shape,
    actual: &Value,
    path: &str,
    open: bool,
    t: &Tolerance<'_>,
    diffs: &mut Vec<String>,
) {
    match (shape, actual) {
        (Shape::Any, _) => {}
        (Shape::Bool, Value::Bool(_))
        | (Shape::Number, Value::Number(_))
        | (Shape::String, Value::String(_)) => {}
        (Shape::Array(elem), Value::Array(items)) => {
            if let Some(elem) = elem {
                for (i, item) in items.iter().enumerate() {
                    check(elem, item, &format!("{path}[{i}]"), open, t, diffs);
                }
            }
        }
        (Shape::Object(keys), Value::Object(map)) => {
            for (k, (s, required)) in keys {
                match map.get(k) {
                    Some(v) => check(
                        s,
                        v,
                        &format!("{path}.{k}"),
                        t.open.contains(&k.as_str()),
                        t,
                        diffs,
                    ),
                    None if *required && !t.optional.contains(&k.as_str()) => {
                        diffs.push(format!("missing {path}.{k}"))
                    }
                    None => {}
                }
            }
            if !open {
                for k in map.keys() {
                    if !keys.contains_key(k) && !t.extra.contains(&k.as_str()) {
                        diffs.push(format!("unexpected {path}.{k}"));
                    }
                }
            }
        }
        (expected, v) => diffs.push(format!(
            "{path}: expected {expected:?}, got {} ({v})",
            kind(v)
        )),
    }
}

/// Differences between the shape of a published payload and a simulator answer.
pub fn shape_diff(published: &Value, actual: &Value, t: &Tolerance<'_>) -> Vec<String> {
    let mut diffs = Vec::new();
    check(&Shape::of(published), actual, "$", false, t, &mut diffs);
    diffs
}

#[track_caller]
pub fn assert_same_shape(name: &str, published: &Value, actual: &Value, t: &Tolerance<'_>) {
    let diffs = shape_diff(published, actual, t);
    assert!(
        diffs.is_empty(),
        "{name}: shape differs from the published payload:\n  {}\nactual: {actual:#}",
        diffs.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver.

#[derive(Debug, Clone)]
pub struct Received {
    pub body: Bytes,
    pub signature: Option<String>,
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> &'static str {
    let signature = headers
        .get("intuit-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    r.received
        .lock()
        .unwrap()
        .push(Received { body, signature });
    "ok"
}

impl Receiver {
    /// Serves a webhook endpoint; answers its URL.
    pub async fn start(&self) -> (RunningServer, String) {
        let router = Router::new()
            .route("/webhooks/quickbooks", post(receive))
            .with_state(self.clone());
        let server = serve(router, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("{}/webhooks/quickbooks", server.base_url());
        (server, url)
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
