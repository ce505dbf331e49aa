//! The Accounting API v3 routes (`/v3/company/{realmId}/…`) and their middleware: `intuit_tid`
//! on every answer, per-realm throttling (requests per minute and concurrent requests → 429 /
//! 3001), Bearer authentication (gateway 401 / 3200), and `requestid` idempotency.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use shared::wire::quickbooks::model::{BatchItemRequest, BatchRequest, Customer, Invoice, Item};

use super::error::{ApiError, envelope_time, forbidden_realm, gateway_unauthorized, throttled};
use super::oauth::TokenProblem;
use super::ops::CDC_ENTITIES;
use super::pdf::invoice_pdf;
use super::{Inner, SimError, StoredResponse, estimate};
use crate::harness::{MAX_BODY, lock};

/// Largest batch.
pub const MAX_BATCH_ITEMS: usize = 30;
/// How far back `changedSince` may reach.
pub const CDC_MAX_DAYS: i64 = 30;

pub type Params = Query<HashMap<String, String>>;

pub fn routes(inner: Arc<Inner>) -> Router<Arc<Inner>> {
    Router::new()
        .route("/v3/company/{realm}/query", get(query_get).post(query_post))
        .route("/v3/company/{realm}/invoice", post(invoice_post))
        .route("/v3/company/{realm}/invoice/{id}", get(invoice_get))
        .route("/v3/company/{realm}/invoice/{id}/send", post(invoice_send))
        .route("/v3/company/{realm}/invoice/{id}/pdf", get(invoice_pdf_get))
        .route(
            "/v3/company/{realm}/estimate",
            post(estimate::estimate_post),
        )
        .route(
            "/v3/company/{realm}/estimate/{id}",
            get(estimate::estimate_get),
        )
        .route(
            "/v3/company/{realm}/estimate/{id}/send",
            post(estimate::estimate_send),
        )
        .route(
            "/v3/company/{realm}/estimate/{id}/pdf",
            get(estimate::estimate_pdf_get),
        )
        .route("/v3/company/{realm}/customer", post(customer_post))
        .route("/v3/company/{realm}/customer/{id}", get(customer_get))
        .route("/v3/company/{realm}/item", post(item_post))
        .route("/v3/company/{realm}/item/{id}", get(item_get))
        .route("/v3/company/{realm}/exchangerate", get(exchangerate_get))
        .route("/v3/company/{realm}/payment/{id}", get(payment_get))
        .route("/v3/company/{realm}/preferences", get(preferences_get))
        .route("/v3/company/{realm}/companyinfo/{id}", get(companyinfo_get))
        .route("/v3/company/{realm}/cdc", get(cdc_get))
        .route("/v3/company/{realm}/batch", post(batch_post))
        .route(
            "/v3/company/{realm}/{*rest}",
            get(unsupported).post(unsupported),
        )
        .layer(from_fn_with_state(inner, api_guard))
}

/// The realm id in `/v3/company/{realm}/…`.
fn realm_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/v3/company/")?
        .split('/')
        .next()
        .filter(|s| !s.is_empty())
}

/// Adds `intuit_tid` to every answer.
pub async fn intuit_tid_layer(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("intuit_tid", v);
    }
    response
}

/// Decrements the in-flight counter however the request ends.
struct InFlight {
    inner: Arc<Inner>,
    realm: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = lock(&self.inner.state);
        if let Some(t) = st.throttle.get_mut(&self.realm) {
            t.in_flight = t.in_flight.saturating_sub(1);
        }
    }
}

/// Per-realm limits: `throttle.per_minute` requests in any 60 s (simulator clock) and
/// `throttle.concurrent` requests in flight; beyond that 429 / 3001.
pub async fn throttle_layer(
    State(inner): State<Arc<Inner>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(realm) = realm_in_path(request.uri().path()).map(str::to_string) else {
        return next.run(request).await;
    };
    let now = inner.now();
    let limits = inner.config.throttle;
    {
        let mut st = lock(&inner.state);
        let t = st.throttle.entry(realm.clone()).or_default();
        while t
            .recent
            .front()
            .is_some_and(|at| *at <= now - Duration::seconds(60))
        {
            t.recent.pop_front();
        }
        if t.recent.len() >= limits.per_minute as usize || t.in_flight >= limits.concurrent {
            return throttled(now);
        }
        t.recent.push_back(now);
        t.in_flight += 1;
        t.peak = t.peak.max(t.in_flight);
    }
    let _guard = InFlight {
        inner: inner.clone(),
        realm,
    };
    next.run(request).await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

/// Authentication and `requestid` idempotency for the API routes.
async fn api_guard(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    let now = inner.now();
    let Some(realm) = realm_in_path(request.uri().path()).map(str::to_string) else {
        return next.run(request).await;
    };
    let granted = lock(&inner.state)
        .tokens
        .check_access(bearer(request.headers()), now);
    match granted {
        Err(TokenProblem::Expired) => {
            return gateway_unauthorized("Token expired: access token has expired", now);
        }
        Err(TokenProblem::Missing) => {
            return gateway_unauthorized("Authorization header missing or not a Bearer token", now);
        }
        Err(TokenProblem::Unknown) => return gateway_unauthorized("Token invalid", now),
        Ok(r) if r != realm => return forbidden_realm(now),
        Ok(_) => {}
    }
    let request_id = request.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("requestid"))
            .map(|(_, v)| v)
    });
    let Some(request_id) = request_id else {
        return next.run(request).await;
    };
    if request_id.is_empty() || request_id.len() > 50 {
        return ApiError::BadRequest("requestid (at most 50 characters)".into())
            .into_response_at(now);
    }
    let key = (realm, request_id);
    if let Some(stored) = lock(&inner.state).idempotent.get(&key).cloned() {
        return replay(&stored);
    }
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY * 4).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "response too large").into_response();
    };
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: bytes.clone(),
    };
    lock(&inner.state).idempotent.insert(key, stored);
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(stored: &StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body.clone()));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if let Some(ct) = stored
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, ct);
    }
    response
}

/// `{"<Entity>": value, "time": …}` with 200.
pub fn envelope<T: Serialize>(key: &str, value: &T, now: DateTime<Utc>) -> Response {
    let body = json!({ key: value, "time": envelope_time(now) });
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub fn fail(inner: &Inner, error: SimError) -> Response {
    match error {
        SimError::Api(e) => e.into_response_at(inner.now()),
        SimError::UnknownRealm(r) => {
            ApiError::NotFound(format!("company {r}")).into_response_at(inner.now())
        }
    }
}

/// The `Id` and `SyncToken` of a posted document: with an `Id` the post is an update, a void or a
/// delete of that document, without one a create.
pub(super) fn id_and_sync_token(value: &Value) -> (Option<String>, Option<String>) {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    (text("Id"), text("SyncToken"))
}

pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("(empty request body)".into()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::Unsupported("with a non-UTF-8 payload".into()))?;
    serde_json::from_str(text).map_err(|e| ApiError::BadRequest(format!("(malformed JSON: {e})")))
}

fn run_query(inner: &Inner, realm: &str, text: &str) -> Response {
    let time = envelope_time(inner.now());
    match inner.read(realm, |r| r.query_body(text, &time)) {
        Ok(body) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => fail(inner, e),
    }
}

async fn query_get(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    Query(q): Params,
) -> Response {
    match q.get("query") {
        Some(text) => run_query(&inner, &realm, text),
        None => fail(&inner, ApiError::RequiredParam("query".into()).into()),
    }
}

async fn query_post(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    body: Bytes,
) -> Response {
    match std::str::from_utf8(&body) {
        Ok(text) if !text.trim().is_empty() => run_query(&inner, &realm, text.trim()),
        _ => fail(&inner, ApiError::RequiredParam("query".into()).into()),
    }
}

fn flag(q: &HashMap<String, String>, key: &str, value: &str) -> bool {
    q.get(key)
        .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(value)))
}

/// `POST /invoice` (create, update, `?operation=delete|void`).
async fn invoice_post(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    let now = inner.now();
    let value = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response_at(now),
    };
    let allow_dup = flag(&q, "include", "allowduplicatedocnum");
    let (id, token) = id_and_sync_token(&value);
    let result = match (q.get("operation").map(String::as_str), id) {
        (Some("delete"), Some(id)) => match token {
            Some(t) => inner.mutate(&realm, |r, now, ev| {
                r.delete_invoice(&id, Some(&t), now, ev)
            }),
            None => Err(ApiError::RequiredParam("SyncToken".into()).into()),
        },
        (Some("void"), Some(id)) => match token {
            Some(t) => inner.mutate(&realm, |r, now, ev| r.void_invoice(&id, Some(&t), now, ev)),
            None => Err(ApiError::RequiredParam("SyncToken".into()).into()),
        },
        (Some("delete" | "void"), None) => Err(ApiError::RequiredParam("Id".into()).into()),
        (Some("update") | None, Some(_)) => inner.mutate(&realm, |r, now, ev| {
            r.update_invoice(&value, allow_dup, now, ev)
        }),
        (Some("create") | None, None) => match serde_json::from_value::<Invoice>(value) {
            Ok(input) => inner.mutate(&realm, |r, now, ev| {
                r.create_invoice(&input, allow_dup, now, ev)
            }),
            Err(e) => Err(ApiError::BadRequest(e.to_string()).into()),
        },
        (Some(other), _) => Err(ApiError::Unsupported(other.to_string()).into()),
    };
    match result {
        Ok(inv) => envelope("Invoice", &inv, now),
        Err(e) => fail(&inner, e),
    }
}

fn request_host(headers: &HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

async fn invoice_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let now = inner.now();
    let want_link = flag(&q, "include", "invoiceLink");
    let result = inner.read(&realm, |r| {
        let mut inv = r.read_invoice(&id)?;
        if want_link && r.online_payments && inv.bill_email.is_some() {
            inv.invoice_link = Some(format!(
                "http://{}/_sim/pay/{realm}/{id}",
                request_host(&headers)
            ));
        }
        Ok(inv)
    });
    match result {
        Ok(inv) => envelope("Invoice", &inv, now),
        Err(e) => fail(&inner, e),
    }
}

async fn invoice_send(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let now = inner.now();
    let send_to = q.get("sendTo").cloned();
    match inner.mutate(&realm, |r, now, ev| {
        r.send_invoice(&id, send_to.as_deref(), now, ev)
    }) {
        Ok(inv) => envelope("Invoice", &inv, now),
        Err(e) => fail(&inner, e),
    }
}

async fn invoice_pdf_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = inner.read(&realm, |r| {
        let inv = r.read_invoice(&id)?;
        Ok(invoice_pdf(
            r.company_info
                .company_name
                .as_deref()
                .unwrap_or("QuickBooks company"),
            &inv,
        ))
    });
    match result {
        Ok(pdf) => ([(http::header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        Err(e) => fail(&inner, e),
    }
}

async fn customer_post(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    body: Bytes,
) -> Response {
    let now = inner.now();
    let value = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response_at(now),
    };
    let result = if value.get("Id").is_some() {
        inner.mutate(&realm, |r, now, ev| r.update_customer(&value, now, ev))
    } else {
        match serde_json::from_value::<Customer>(value) {
            Ok(input) => inner.mutate(&realm, |r, now, ev| r.create_customer(&input, now, ev)),
            Err(e) => Err(ApiError::BadRequest(e.to_string()).into()),
        }
    };
    match result {
        Ok(c) => envelope("Customer", &c, now),
        Err(e) => fail(&inner, e),
    }
}

async fn customer_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    match inner.read(&realm, |r| r.read_customer(&id)) {
        Ok(c) => envelope("Customer", &c, inner.now()),
        Err(e) => fail(&inner, e),
    }
}

async fn item_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    match inner.read(&realm, |r| {
        r.find_item(&id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("Item {id}")))
    }) {
        Ok(item) => envelope("Item", &item, inner.now()),
        Err(e) => fail(&inner, e),
    }
}

async fn item_post(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    body: Bytes,
) -> Response {
    let now = inner.now();
    let input = match parse_json(&body).and_then(|v| {
        serde_json::from_value::<Item>(v).map_err(|e| ApiError::BadRequest(e.to_string()))
    }) {
        Ok(item) => item,
        Err(e) => return e.into_response_at(now),
    };
    if input.id.is_some() {
        return ApiError::Unsupported("item updates".into()).into_response_at(now);
    }
    match inner.mutate(&realm, |r, now, ev| r.create_item(&input, now, ev)) {
        Ok(item) => envelope("Item", &item, now),
        Err(e) => fail(&inner, e),
    }
}

async fn exchangerate_get(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    Query(params): Params,
) -> Response {
    let now = inner.now();
    let Some(source) = params.get("sourcecurrencycode").filter(|s| !s.is_empty()) else {
        return ApiError::RequiredParam("sourcecurrencycode".into()).into_response_at(now);
    };
    let as_of = match params
        .get("asofdate")
        .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d"))
    {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            return ApiError::BadRequest("asofdate must be yyyy-mm-dd".into())
                .into_response_at(now);
        }
    };
    let today = now.date_naive();
    match inner.read(&realm, |r| r.exchange_rate_for(source, as_of, today, now)) {
        Ok(rate) => envelope("ExchangeRate", &rate, now),
        Err(e) => fail(&inner, e),
    }
}

async fn payment_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = inner.read(&realm, |r| {
        id.parse::<u64>()
            .ok()
            .and_then(|k| r.payments.get(&k).cloned())
            .ok_or_else(|| ApiError::NotFound(format!("Payment {id}")))
    });
    match result {
        Ok(p) => envelope("Payment", &p, inner.now()),
        Err(e) => fail(&inner, e),
    }
}

async fn preferences_get(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    match inner.read(&realm, |r| Ok(r.preferences.clone())) {
        Ok(p) => envelope("Preferences", &p, inner.now()),
        Err(e) => fail(&inner, e),
    }
}

async fn companyinfo_get(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    let result = inner.read(&realm, |r| {
        if id != r.id && Some(id.as_str()) != r.company_info.id.as_deref() {
            return Err(ApiError::NotFound(format!("CompanyInfo {id}")));
        }
        Ok(r.company_info.clone())
    });
    match result {
        Ok(c) => envelope("CompanyInfo", &c, inner.now()),
        Err(e) => fail(&inner, e),
    }
}

/// `changedSince`: a date (`2015-11-28`) or a date-time with offset.
fn parse_changed_since(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z").ok())
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|n| n.and_utc().fixed_offset())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc().fixed_offset())
        })
}

async fn cdc_get(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    Query(q): Params,
) -> Response {
    let now = inner.now();
    let Some(entities) = q.get("entities").filter(|e| !e.trim().is_empty()) else {
        return ApiError::RequiredParam("entities".into()).into_response_at(now);
    };
    let Some(since_text) = q.get("changedSince") else {
        return ApiError::RequiredParam("changedSince".into()).into_response_at(now);
    };
    let Some(since) = parse_changed_since(since_text) else {
        return ApiError::BadRequest(format!(
            "changedSince ({since_text} is not a date or date-time)"
        ))
        .into_response_at(now);
    };
    if since.with_timezone(&Utc) < now - Duration::days(CDC_MAX_DAYS) {
        return ApiError::Business(format!(
            "changedSince must be within the last {CDC_MAX_DAYS} days"
        ))
        .into_response_at(now);
    }
    let mut names: Vec<&'static str> = Vec::new();
    for e in entities.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match CDC_ENTITIES.iter().find(|c| c.eq_ignore_ascii_case(e)) {
            Some(c) if !names.contains(c) => names.push(c),
            Some(_) => {}
            None => {
                return ApiError::InvalidEnum(format!(
                    "entities: {e} is not supported by ChangeDataCapture"
                ))
                .into_response_at(now);
            }
        }
    }
    match inner.read(&realm, |r| Ok(r.cdc(&names, since))) {
        Ok(cdc) => {
            let body = json!({"CDCResponse": cdc, "time": envelope_time(now)});
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => fail(&inner, e),
    }
}

async fn batch_post(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    body: Bytes,
) -> Response {
    let now = inner.now();
    let value = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response_at(now),
    };
    let request: BatchRequest = match serde_json::from_value(value.clone()) {
        Ok(r) => r,
        Err(e) => return ApiError::BadRequest(e.to_string()).into_response_at(now),
    };
    if request.batch_item_request.len() > MAX_BATCH_ITEMS {
        return ApiError::Business(format!(
            "A batch request can carry at most {MAX_BATCH_ITEMS} items, this one has {}",
            request.batch_item_request.len()
        ))
        .into_response_at(now);
    }
    let raws: Vec<Value> = value
        .get("BatchItemRequest")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let items: Vec<(BatchItemRequest, Value)> =
        request.batch_item_request.into_iter().zip(raws).collect();
    let result = inner.mutate(&realm, |r, now, ev| {
        Ok(items
            .iter()
            .map(|(item, raw)| r.batch_item(item, raw, now, ev))
            .collect::<Vec<Value>>())
    });
    match result {
        Ok(responses) => {
            let body = json!({"BatchItemResponse": responses, "time": envelope_time(now)});
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => fail(&inner, e),
    }
}

async fn unsupported(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let what = format!("{} {}", request.method(), request.uri().path());
    ApiError::Unsupported(what).into_response_at(inner.now())
}
