//! The control API (`/_sim/…`, JSON): what a tester or the demo does "in the QuickBooks UI" or to
//! the simulator itself. Not faulted, delayed, throttled or logged by the harness.
//!
//! | Route | Effect |
//! |---|---|
//! | `POST /_sim/reset` | re-seed the configured realms, forget tokens/idempotency/webhook queue |
//! | `GET /_sim/realms`, `POST /_sim/realms` (RealmSeed) | list / seed (replace) a realm |
//! | `GET /_sim/realms/{realm}/invoices[/{id}]` | invoices (plus `deleted` ids in the list form) |
//! | `GET/POST /_sim/realms/{realm}/customers` | list / create a customer |
//! | `GET /_sim/realms/{realm}/items` | the items (products and services) |
//! | `GET /_sim/realms/{realm}/estimates[/{id}]` | estimates (plus `deleted` ids in the list form) |
//! | `POST /_sim/realms/{realm}/estimates/{id}/status` | `{status: Accepted\|Rejected\|Pending, accepted_by?}`: the customer's answer entered in the QuickBooks UI |
//! | `GET/POST /_sim/realms/{realm}/payments` | list / record `{invoice_id, amount?, txn_date?}` |
//! | `POST /_sim/realms/{realm}/invoices/{id}/due-date` | `{due_date}` |
//! | `POST /_sim/realms/{realm}/invoices/{id}/void` / `/delete` | as in the QuickBooks UI |
//! | `POST /_sim/realms/{realm}/disconnect` | revoke every token of the realm |
//! | `POST /_sim/realms/{realm}/tokens` | issue a token pair without the redirect dance |
//! | `GET /_sim/clock`, `POST /_sim/clock/advance` (`{seconds}`) | simulator clock |
//! | `GET/PUT /_sim/knobs` | harness knobs (latency, faults by path prefix) |
//! | `GET/DELETE /_sim/requests` | request log |
//! | `GET/PUT /_sim/webhooks/config`, `POST /_sim/webhooks/flush`, `GET /_sim/webhooks/deliveries`, `GET /_sim/webhooks/pending` | webhooks |
//! | `GET/POST /_sim/pay/{realm}/{id}` | the customer payment page behind `InvoiceLink` |

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use chrono::NaiveDate;
use http::StatusCode;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::wire::quickbooks::model::Customer;

use super::config::{RealmSeed, WebhookConfig};
use super::estimate::StatusChange;
use super::store::Realm;
use super::{Inner, SimError, webhooks};
use crate::harness::{AdvanceClock, Knobs, lock};

pub fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/_sim/reset", post(reset))
        .route("/_sim/realms", get(list_realms).post(seed_realm))
        .route("/_sim/realms/{realm}/invoices", get(list_invoices))
        .route("/_sim/realms/{realm}/invoices/{id}", get(get_invoice))
        .route(
            "/_sim/realms/{realm}/invoices/{id}/due-date",
            post(set_due_date),
        )
        .route(
            "/_sim/realms/{realm}/invoices/{id}/void",
            post(void_invoice),
        )
        .route(
            "/_sim/realms/{realm}/invoices/{id}/delete",
            post(delete_invoice),
        )
        .route(
            "/_sim/realms/{realm}/customers",
            get(list_customers).post(create_customer),
        )
        .route("/_sim/realms/{realm}/items", get(list_items))
        .route("/_sim/realms/{realm}/estimates", get(list_estimates))
        .route("/_sim/realms/{realm}/estimates/{id}", get(get_estimate))
        .route(
            "/_sim/realms/{realm}/estimates/{id}/status",
            post(set_estimate_status),
        )
        .route(
            "/_sim/realms/{realm}/payments",
            get(list_payments).post(record_payment),
        )
        .route("/_sim/realms/{realm}/disconnect", post(disconnect))
        .route("/_sim/realms/{realm}/tokens", post(issue_tokens))
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/knobs", get(get_knobs).put(put_knobs))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route(
            "/_sim/webhooks/config",
            get(get_webhook_config).put(put_webhook_config),
        )
        .route("/_sim/webhooks/flush", post(flush_webhooks))
        .route("/_sim/webhooks/deliveries", get(deliveries))
        .route("/_sim/webhooks/pending", get(pending))
        .route("/_sim/pay/{realm}/{id}", get(pay_page).post(pay))
}

fn error(status: StatusCode, message: impl Into<String>, fault: Option<Value>) -> Response {
    (
        status,
        Json(json!({"error": message.into(), "Fault": fault})),
    )
        .into_response()
}

fn sim_error(e: SimError) -> Response {
    match e {
        SimError::UnknownRealm(r) => {
            error(StatusCode::NOT_FOUND, format!("unknown realm {r}"), None)
        }
        SimError::Api(api) => {
            let fault = serde_json::to_value(api.fault()).ok();
            error(StatusCode::BAD_REQUEST, api.to_string(), fault)
        }
    }
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Box<Response>> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {e}"),
            None,
        ))
    })
}

fn reply<T: serde::Serialize>(result: Result<T, SimError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => sim_error(e),
    }
}

async fn reset(State(inner): State<Arc<Inner>>) -> Response {
    let fresh = Inner::fresh_state(&inner.config, inner.now());
    *lock(&inner.state) = fresh;
    Json(json!({"ok": true})).into_response()
}

async fn list_realms(State(inner): State<Arc<Inner>>) -> Response {
    let st = lock(&inner.state);
    let realms: Vec<Value> = st
        .realms
        .values()
        .map(|r| {
            json!({
                "realm_id": r.id,
                "company_name": r.company_info.company_name,
                "country": r.company_info.country,
                "home_currency": r.home_currency(),
                "multi_currency": r.multi_currency(),
                "custom_txn_numbers": r.preferences.custom_txn_numbers(),
                "invoices": r.invoices.len(),
                "customers": r.customers.len(),
                "payments": r.payments.len(),
            })
        })
        .collect();
    Json(realms).into_response()
}

async fn seed_realm(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let seed: RealmSeed = match body(&bytes) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if seed.realm_id.is_empty() || !seed.realm_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return error(
            StatusCode::BAD_REQUEST,
            "realm_id must be non-empty and alphanumeric",
            None,
        );
    }
    let realm = Realm::seeded(&seed, inner.now());
    lock(&inner.state)
        .realms
        .insert(seed.realm_id.clone(), realm);
    Json(json!({"ok": true, "realm_id": seed.realm_id})).into_response()
}

async fn list_invoices(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    reply(inner.read(&realm, |r| {
        Ok(json!({
            "Invoice": r.invoices.values().collect::<Vec<_>>(),
            "deleted": r.deleted_invoices.keys().map(u64::to_string).collect::<Vec<_>>(),
        }))
    }))
}

async fn list_estimates(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    reply(inner.read(&realm, |r| {
        Ok(json!({
            "Estimate": r.estimates.values().collect::<Vec<_>>(),
            "deleted": r.deleted_estimates.keys().map(u64::to_string).collect::<Vec<_>>(),
        }))
    }))
}

async fn get_estimate(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    reply(inner.read(&realm, |r| r.read_estimate(&id)))
}

async fn set_estimate_status(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let change: StatusChange = match body(&bytes) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    reply(change.status().map_err(SimError::from).and_then(|status| {
        inner.mutate(&realm, |r, now, ev| {
            r.set_estimate_status(&id, status, change.accepted_by.clone(), now, ev)
        })
    }))
}

async fn get_invoice(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    reply(inner.read(&realm, |r| r.read_invoice(&id)))
}

#[derive(Deserialize)]
struct DueDate {
    due_date: NaiveDate,
}

async fn set_due_date(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let req: DueDate = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    reply(inner.mutate(&realm, |r, now, ev| {
        r.set_due_date(&id, req.due_date, now, ev)
    }))
}

async fn void_invoice(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    reply(inner.mutate(&realm, |r, now, ev| r.void_invoice(&id, None, now, ev)))
}

async fn delete_invoice(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    reply(inner.mutate(&realm, |r, now, ev| r.delete_invoice(&id, None, now, ev)))
}

async fn list_customers(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    reply(inner.read(&realm, |r| {
        Ok(r.customers.values().cloned().collect::<Vec<_>>())
    }))
}

async fn list_items(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    reply(inner.read(&realm, |r| {
        Ok(r.items.values().cloned().collect::<Vec<_>>())
    }))
}

async fn create_customer(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    bytes: Bytes,
) -> Response {
    let customer: Customer = match body(&bytes) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    reply(inner.mutate(&realm, |r, now, ev| r.create_customer(&customer, now, ev)))
}

async fn list_payments(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    reply(inner.read(&realm, |r| {
        Ok(r.payments.values().cloned().collect::<Vec<_>>())
    }))
}

#[derive(Deserialize)]
struct RecordPayment {
    invoice_id: String,
    /// Omitted = the whole open balance.
    #[serde(default, with = "rust_decimal::serde::float_option")]
    amount: Option<Decimal>,
    #[serde(default)]
    txn_date: Option<NaiveDate>,
}

async fn record_payment(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    bytes: Bytes,
) -> Response {
    let req: RecordPayment = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    reply(inner.mutate(&realm, |r, now, ev| {
        r.record_payment(&req.invoice_id, req.amount, req.txn_date, now, ev)
    }))
}

async fn disconnect(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    lock(&inner.state).tokens.revoke_realm(&realm);
    Json(json!({"ok": true})).into_response()
}

async fn issue_tokens(State(inner): State<Arc<Inner>>, Path(realm): Path<String>) -> Response {
    let now = inner.now();
    let mut st = lock(&inner.state);
    if !st.realms.contains_key(&realm) {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown realm {realm}"),
            None,
        );
    }
    Json(st.tokens.issue(&realm, now)).into_response()
}

async fn clock(State(inner): State<Arc<Inner>>) -> Response {
    Json(json!({"now": inner.now()})).into_response()
}

async fn advance_clock(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: AdvanceClock = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    inner.harness.advance_clock(req.seconds);
    Json(json!({"now": inner.now()})).into_response()
}

async fn get_knobs(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.harness.knobs()).into_response()
}

async fn put_knobs(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let knobs: Knobs = match body(&bytes) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    inner.harness.set_knobs(knobs);
    Json(inner.harness.knobs()).into_response()
}

async fn requests(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.harness.requests()).into_response()
}

async fn clear_requests(State(inner): State<Arc<Inner>>) -> Response {
    inner.harness.clear_log();
    Json(json!({"ok": true})).into_response()
}

async fn get_webhook_config(State(inner): State<Arc<Inner>>) -> Response {
    Json(lock(&inner.state).webhook.clone()).into_response()
}

async fn put_webhook_config(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let config: WebhookConfig = match body(&bytes) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    lock(&inner.state).webhook = config.clone();
    Json(config).into_response()
}

async fn flush_webhooks(State(inner): State<Arc<Inner>>) -> Response {
    Json(webhooks::flush(&inner).await).into_response()
}

async fn deliveries(State(inner): State<Arc<Inner>>) -> Response {
    Json(lock(&inner.state).deliveries.clone()).into_response()
}

async fn pending(State(inner): State<Arc<Inner>>) -> Response {
    let st = lock(&inner.state);
    let events: Vec<Value> = st
        .pending
        .iter()
        .map(|e| {
            json!({"realm_id": e.realm_id, "entity": e.entity, "id": e.id,
                   "operation": e.operation.legacy_name(), "at": e.at, "attempts": e.attempts})
        })
        .collect();
    Json(events).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The customer-facing payment page an `InvoiceLink` points to.
async fn pay_page(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    match inner.read(&realm, |r| r.read_invoice(&id)) {
        Ok(inv) => {
            let currency = inv
                .currency_ref
                .as_ref()
                .map(|c| c.value.clone())
                .unwrap_or_default();
            let balance = inv.balance.unwrap_or_default();
            let button = if balance > Decimal::ZERO {
                format!(
                    "<form method=\"post\"><button type=\"submit\" id=\"pay\">Pay {balance:.2} {currency}</button></form>"
                )
            } else {
                "<p>This invoice is paid.</p>".to_string()
            };
            Html(format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Invoice {doc}</title></head><body>\
<h1>Invoice {doc}</h1><p>{customer}</p><p>Total {total:.2} {currency} &middot; Balance due {balance:.2} {currency}</p>{button}</body></html>",
                doc = html_escape(inv.doc_number.as_deref().unwrap_or_default()),
                customer = html_escape(inv.customer_ref.as_ref().and_then(|c| c.name.as_deref()).unwrap_or_default()),
                total = inv.total_amt.unwrap_or_default(),
            ))
            .into_response()
        }
        Err(e) => sim_error(e),
    }
}

/// The payment page's button: pays the whole open balance.
async fn pay(
    State(inner): State<Arc<Inner>>,
    Path((realm, id)): Path<(String, String)>,
) -> Response {
    match inner.mutate(&realm, |r, now, ev| r.record_payment(&id, None, None, now, ev)) {
        Ok(p) => Html(format!(
            "<!doctype html><html><body><h1>Thank you</h1><p>Payment {} of {:.2} received.</p></body></html>",
            html_escape(p.id.as_deref().unwrap_or_default()),
            p.total_amt.unwrap_or_default()
        ))
        .into_response(),
        Err(e) => sim_error(e),
    }
}
