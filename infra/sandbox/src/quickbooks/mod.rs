//! Simulated QuickBooks Online: OAuth 2.0 (authorize, token, revoke), the Accounting API v3
//! subset the app uses (query, invoice, estimate, customer, item, exchangerate, preferences, companyinfo, cdc, batch), webhooks
//! in both payload formats, throttling, and a JSON control API under `/_sim/`.
//!
//! All hosts share one port; paths mirror the real ones (`/connect/oauth2`,
//! `/oauth2/v1/tokens/bearer`, `/oauth2/v1/tokens/revoke`, `/v3/company/{realmId}/…`).
//!
//! Behaviour worth knowing:
//! - `minorversion` is accepted whatever its value: since August 2025 QuickBooks treats 1–74 as
//!   75, so the simulator always behaves as 75.
//! - Every answer carries an `intuit_tid` header.
//! - Throttling (per realm, simulator clock) runs before the harness middleware, so throttled
//!   requests are not in the request log; the harness' own injected 429/500 answers are (they use
//!   the QuickBooks fault bodies, see [`QuickBooksFaults`]).
//! - `QueryResponse.totalCount` equals the rows returned, as in the published samples.
//! - `include=invoiceLink` answers a link to the simulator's own payment page
//!   (`/_sim/pay/{realm}/{id}`) when the company has online payments on and the invoice has a
//!   `BillEmail`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim};
//! let (sim, server) = QuickBooksSim::start(QuickBooksConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("QuickBooks simulator on {}", server.base_url());
//! # drop(sim); Ok(()) }
//! ```

mod api;
mod catalog;
mod config;
mod control;
mod error;
mod estimate;
mod invoice;
mod oauth;
mod ops;
mod pdf;
pub mod query;
mod store;
mod webhooks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use shared::wire::quickbooks::model::{
    Customer, Estimate, Invoice, Payment, TokenResponse, TxnStatus,
};
use shared::wire::quickbooks::webhook::Operation;

use crate::harness::{self, Harness, RunningServer, lock};

pub use config::{
    Country, GB_REALM, QuickBooksConfig, RealmSeed, ThrottleConfig, US_REALM, WebhookConfig,
    WebhookFormat,
};
pub use error::{ApiError, QuickBooksFaults};
pub use pdf::invoice_pdf;
pub use webhooks::WebhookDelivery;

use oauth::TokenStore;
use store::Realm;

/// Prefix of the control API.
pub const CONTROL_PREFIX: &str = "/_sim/";

/// Errors of the control methods.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown realm {0}")]
    UnknownRealm(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// A change waiting to be delivered by webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    pub realm_id: String,
    pub entity: &'static str,
    pub id: String,
    pub operation: Operation,
    pub at: DateTime<Utc>,
    pub attempts: u32,
}

/// A stored answer for `requestid` idempotency.
#[derive(Debug, Clone)]
struct StoredResponse {
    status: u16,
    content_type: Option<String>,
    body: bytes::Bytes,
}

/// Per-realm throttle bookkeeping.
#[derive(Debug, Default)]
struct Throttle {
    recent: VecDeque<DateTime<Utc>>,
    in_flight: u32,
    /// The most requests ever in flight at once (for the benchmarks' "≤ 10 per company").
    peak: u32,
}

/// Mutable simulator state (one lock; every operation is short and synchronous).
#[derive(Debug)]
struct SimState {
    realms: BTreeMap<String, Realm>,
    tokens: TokenStore,
    idempotent: HashMap<(String, String), StoredResponse>,
    webhook: WebhookConfig,
    pending: Vec<PendingEvent>,
    deliveries: Vec<WebhookDelivery>,
    throttle: HashMap<String, Throttle>,
}

#[derive(Debug)]
struct Inner {
    harness: Arc<Harness>,
    config: QuickBooksConfig,
    state: Mutex<SimState>,
    http: reqwest::Client,
    flush_lock: tokio::sync::Mutex<()>,
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        self.harness.now()
    }

    fn fresh_state(config: &QuickBooksConfig, now: DateTime<Utc>) -> SimState {
        SimState {
            realms: config
                .realms
                .iter()
                .map(|s| (s.realm_id.clone(), Realm::seeded(s, now)))
                .collect(),
            tokens: TokenStore::default(),
            idempotent: HashMap::new(),
            webhook: config.webhook.clone(),
            pending: Vec::new(),
            deliveries: Vec::new(),
            throttle: HashMap::new(),
        }
    }

    /// Runs a read on a realm.
    fn read<T>(
        &self,
        realm_id: &str,
        f: impl FnOnce(&Realm) -> Result<T, ApiError>,
    ) -> Result<T, SimError> {
        let st = lock(&self.state);
        let realm = st
            .realms
            .get(realm_id)
            .ok_or_else(|| SimError::UnknownRealm(realm_id.into()))?;
        Ok(f(realm)?)
    }

    /// Runs a write on a realm and queues the webhook events it produced.
    fn mutate<T>(
        &self,
        realm_id: &str,
        f: impl FnOnce(&mut Realm, DateTime<Utc>, &mut Vec<ops::Change>) -> Result<T, ApiError>,
    ) -> Result<T, SimError> {
        let now = self.now();
        let mut st = lock(&self.state);
        let realm = st
            .realms
            .get_mut(realm_id)
            .ok_or_else(|| SimError::UnknownRealm(realm_id.into()))?;
        let mut changes = Vec::new();
        let result = f(realm, now, &mut changes);
        st.pending.extend(
            changes
                .into_iter()
                .map(|(entity, id, operation)| PendingEvent {
                    realm_id: realm_id.to_string(),
                    entity,
                    id,
                    operation,
                    at: now,
                    attempts: 0,
                }),
        );
        Ok(result?)
    }
}

/// The QuickBooks Online simulator. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct QuickBooksSim {
    inner: Arc<Inner>,
}

impl QuickBooksSim {
    /// A simulator with the configured realms seeded (not yet serving; see [`Self::router`]).
    pub fn new(config: QuickBooksConfig) -> Self {
        let harness = Harness::new(CONTROL_PREFIX);
        let state = Inner::fresh_state(&config, harness.now());
        let http = shared::clients::outbound::client_builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        QuickBooksSim {
            inner: Arc::new(Inner {
                harness,
                config,
                state: Mutex::new(state),
                http,
                flush_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Serves the simulator on `addr` (`127.0.0.1:0` for a free port) and starts the webhook
    /// sender (it flushes every `webhook.batch_ms` when that is non-zero).
    pub async fn start(
        config: QuickBooksConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(QuickBooksSim, RunningServer)> {
        let sim = QuickBooksSim::new(config);
        let server = harness::serve(sim.router(), addr).await?;
        sim.spawn_webhook_sender();
        Ok((sim, server))
    }

    /// The full router (API, OAuth, control API) with the harness middleware, for embedding.
    pub fn router(&self) -> Router {
        let inner = self.inner.clone();
        let faults = Arc::new(QuickBooksFaults);
        Router::new()
            .merge(api::routes(inner.clone()))
            .merge(oauth::routes())
            .merge(control::routes())
            .with_state(inner.clone())
            .layer(from_fn_with_state(
                (inner.harness.clone(), faults),
                harness::fault_layer::<QuickBooksFaults>,
            ))
            .layer(from_fn_with_state(inner, api::throttle_layer))
            .layer(from_fn(api::intuit_tid_layer))
    }

    /// Starts the background webhook sender (done by [`Self::start`]; call it when embedding the
    /// router yourself). It stops when the simulator is dropped.
    pub fn spawn_webhook_sender(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let interval = match weak.upgrade() {
                    Some(inner) => lock(&inner.state).webhook.batch_ms,
                    None => return,
                };
                tokio::time::sleep(Duration::from_millis(if interval == 0 {
                    200
                } else {
                    interval
                }))
                .await;
                let Some(inner) = weak.upgrade() else { return };
                if interval > 0 {
                    webhooks::flush(&inner).await;
                }
            }
        });
    }

    pub fn harness(&self) -> &Arc<Harness> {
        &self.inner.harness
    }

    pub fn config(&self) -> &QuickBooksConfig {
        &self.inner.config
    }

    /// The simulator clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    pub fn advance_clock(&self, seconds: i64) {
        self.inner.harness.advance_clock(seconds);
    }

    /// Re-seeds every configured realm and forgets tokens, idempotency keys, throttle counters and
    /// queued webhooks (the request log and knobs stay; clear them via the harness).
    pub fn reset(&self) {
        let fresh = Inner::fresh_state(&self.inner.config, self.now());
        *lock(&self.inner.state) = fresh;
    }

    /// Creates (or replaces) a realm with the seed data of its country.
    pub fn seed_realm(&self, seed: &RealmSeed) {
        let realm = Realm::seeded(seed, self.now());
        lock(&self.inner.state)
            .realms
            .insert(seed.realm_id.clone(), realm);
    }

    pub fn realm_ids(&self) -> Vec<String> {
        lock(&self.inner.state).realms.keys().cloned().collect()
    }

    pub fn invoices(&self, realm_id: &str) -> Result<Vec<Invoice>, SimError> {
        self.inner
            .read(realm_id, |r| Ok(r.invoices.values().cloned().collect()))
    }

    pub fn invoice(&self, realm_id: &str, id: &str) -> Result<Invoice, SimError> {
        self.inner.read(realm_id, |r| r.read_invoice(id))
    }

    pub fn estimates(&self, realm_id: &str) -> Result<Vec<Estimate>, SimError> {
        self.inner
            .read(realm_id, |r| Ok(r.estimates.values().cloned().collect()))
    }

    pub fn estimate(&self, realm_id: &str, id: &str) -> Result<Estimate, SimError> {
        self.inner.read(realm_id, |r| r.read_estimate(id))
    }

    /// The customer's answer to an estimate, entered in the QuickBooks UI (Accepted, Rejected or
    /// back to Pending): a new SyncToken and a webhook `Update`, as any change.
    pub fn set_estimate_status(
        &self,
        realm_id: &str,
        estimate_id: &str,
        status: TxnStatus,
        accepted_by: Option<&str>,
    ) -> Result<Estimate, SimError> {
        self.inner.mutate(realm_id, |r, now, ev| {
            r.set_estimate_status(
                estimate_id,
                status,
                accepted_by.map(str::to_string),
                now,
                ev,
            )
        })
    }

    /// Deletes an estimate in the QuickBooks UI.
    pub fn delete_estimate(&self, realm_id: &str, estimate_id: &str) -> Result<(), SimError> {
        self.inner.mutate(realm_id, |r, now, ev| {
            r.delete_estimate(estimate_id, None, now, ev).map(|_| ())
        })
    }

    /// Ids of deleted invoices.
    pub fn deleted_invoice_ids(&self, realm_id: &str) -> Result<Vec<String>, SimError> {
        self.inner.read(realm_id, |r| {
            Ok(r.deleted_invoices.keys().map(u64::to_string).collect())
        })
    }

    pub fn customers(&self, realm_id: &str) -> Result<Vec<Customer>, SimError> {
        self.inner
            .read(realm_id, |r| Ok(r.customers.values().cloned().collect()))
    }

    pub fn items(
        &self,
        realm_id: &str,
    ) -> Result<Vec<shared::wire::quickbooks::model::Item>, SimError> {
        self.inner
            .read(realm_id, |r| Ok(r.items.values().cloned().collect()))
    }

    pub fn payments(&self, realm_id: &str) -> Result<Vec<Payment>, SimError> {
        self.inner
            .read(realm_id, |r| Ok(r.payments.values().cloned().collect()))
    }

    /// Creates a customer as if typed into QuickBooks (same validation as the API).
    pub fn create_customer(
        &self,
        realm_id: &str,
        customer: &Customer,
    ) -> Result<Customer, SimError> {
        self.inner
            .mutate(realm_id, |r, now, ev| r.create_customer(customer, now, ev))
    }

    /// Edits a customer in the QuickBooks UI (`changes` in QuickBooks' field names; the
    /// customer gets a new SyncToken, so an update based on the old one meets 5010).
    pub fn edit_customer(
        &self,
        realm_id: &str,
        customer_id: &str,
        changes: &serde_json::Value,
    ) -> Result<Customer, SimError> {
        self.inner.mutate(realm_id, |r, now, ev| {
            r.edit_customer(customer_id, changes, now, ev)
        })
    }

    /// Records a payment against an invoice (`amount` None = the whole open balance).
    pub fn record_payment(
        &self,
        realm_id: &str,
        invoice_id: &str,
        amount: Option<Decimal>,
    ) -> Result<Payment, SimError> {
        self.inner.mutate(realm_id, |r, now, ev| {
            r.record_payment(invoice_id, amount, None, now, ev)
        })
    }

    /// Changes an invoice's due date in the QuickBooks UI.
    pub fn set_due_date(
        &self,
        realm_id: &str,
        invoice_id: &str,
        due: NaiveDate,
    ) -> Result<Invoice, SimError> {
        self.inner.mutate(realm_id, |r, now, ev| {
            r.set_due_date(invoice_id, due, now, ev)
        })
    }

    /// Voids an invoice in the QuickBooks UI (payments applied to it are unlinked).
    pub fn void_invoice(&self, realm_id: &str, invoice_id: &str) -> Result<Invoice, SimError> {
        self.inner.mutate(realm_id, |r, now, ev| {
            r.void_invoice(invoice_id, None, now, ev)
        })
    }

    /// Deletes an invoice in the QuickBooks UI.
    pub fn delete_invoice(&self, realm_id: &str, invoice_id: &str) -> Result<(), SimError> {
        self.inner.mutate(realm_id, |r, now, ev| {
            r.delete_invoice(invoice_id, None, now, ev).map(|_| ())
        })
    }

    /// The user disconnects the app: every token of the realm stops working.
    pub fn disconnect(&self, realm_id: &str) {
        lock(&self.inner.state).tokens.revoke_realm(realm_id);
    }

    /// Issues a token pair for a realm without the authorize redirect (test shortcut).
    pub fn issue_tokens(&self, realm_id: &str) -> Result<TokenResponse, SimError> {
        let now = self.now();
        let mut st = lock(&self.inner.state);
        if !st.realms.contains_key(realm_id) {
            return Err(SimError::UnknownRealm(realm_id.into()));
        }
        Ok(st.tokens.issue(realm_id, now))
    }

    /// The most API requests that were in flight at once for `realm_id` (throttled ones not
    /// counted: they never started), since the start or [`Self::reset_peak_in_flight`].
    pub fn peak_in_flight(&self, realm_id: &str) -> u32 {
        lock(&self.inner.state)
            .throttle
            .get(realm_id)
            .map_or(0, |t| t.peak)
    }

    pub fn reset_peak_in_flight(&self) {
        for t in lock(&self.inner.state).throttle.values_mut() {
            t.peak = t.in_flight;
        }
    }

    pub fn webhook_config(&self) -> WebhookConfig {
        lock(&self.inner.state).webhook.clone()
    }

    pub fn set_webhook_config(&self, config: WebhookConfig) {
        lock(&self.inner.state).webhook = config;
    }

    /// Events not yet delivered.
    pub fn pending_webhook_events(&self) -> Vec<PendingEvent> {
        lock(&self.inner.state).pending.clone()
    }

    /// Delivers queued events now (one POST); answers what was sent.
    pub async fn flush_webhooks(&self) -> Vec<WebhookDelivery> {
        webhooks::flush(&self.inner).await
    }

    /// Every delivery attempt so far.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.inner.state).deliveries.clone()
    }
}
