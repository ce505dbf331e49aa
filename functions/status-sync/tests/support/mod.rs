//! A test world for the status sync and the QuickBooks webhook: the QuickBooks and Pipedrive
//! simulators, an [`App`] on a write-counting store (embedded or moto-backed), connected
//! companies seeded straight into the store and the token vault, invoices created in the
//! simulator and linked to deals, and the in-process SQS-shaped driver.
//!
//! Shared by `functions/status-sync/tests/*`, `functions/quickbooks-webhook/tests/*` and
//! `tests/tests/status_sync.rs` (via `#[path]`).
#![allow(dead_code, unused_imports)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{
    QuickBooksConfig, QuickBooksSim, RealmSeed, ThrottleConfig, WebhookConfig, WebhookFormat,
};
use serde_json::json;
use shared::app::sync::jobs::InProcessQueue;
use shared::app::testing::test_credentials;
use shared::app::{App, Deployment};
use shared::domain::links::link_from_invoice;
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, DealId, InvoiceLink, InvoiceStatus,
    QuickBooksConnection, QuickBooksEnvironment, UserId, UserInstall,
};
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use shared::store::secrets::{PipedriveTokens, QuickBooksTokens, SecretStore};
use shared::store::{Condition, Item, ItemStore, Page, PageRequest, StoreError};
use shared::wire::quickbooks::model::{Invoice, InvoiceEnvelope};
use status_sync::worker::{DrainReport, drain_once, schedule};

pub use sandbox::pipedrive::seed::{COMPANY_A, USER_A_ADMIN};
pub use sandbox::quickbooks::US_REALM;

/// A second US company (the seeded GB one needs VAT codes on every line).
pub const OTHER_REALM: &str = "9341453050420201";

/// Counts writes per partition, split into invoice-link writes and others.
pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    link_puts: AtomicUsize,
    other_puts: AtomicUsize,
    by_pk: Mutex<HashMap<String, usize>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Self {
        CountingStore {
            inner,
            link_puts: AtomicUsize::new(0),
            other_puts: AtomicUsize::new(0),
            by_pk: Mutex::new(HashMap::new()),
        }
    }

    /// Invoice-link writes since the last reset.
    pub fn link_puts(&self) -> usize {
        self.link_puts.load(Ordering::SeqCst)
    }

    /// Invoice-link writes of one company since the last reset.
    pub fn link_puts_of(&self, company: u64) -> usize {
        self.by_pk
            .lock()
            .unwrap()
            .get(&format!("COMPANY#{company}"))
            .copied()
            .unwrap_or(0)
    }

    /// Other writes (profiles, activity events, leases) since the last reset.
    pub fn other_puts(&self) -> usize {
        self.other_puts.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.link_puts.store(0, Ordering::SeqCst);
        self.other_puts.store(0, Ordering::SeqCst);
        self.by_pk.lock().unwrap().clear();
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<Item, StoreError> {
        if item.sk.contains("#INVOICE#") {
            self.link_puts.fetch_add(1, Ordering::SeqCst);
            *self
                .by_pk
                .lock()
                .unwrap()
                .entry(item.pk.to_string())
                .or_default() += 1;
        } else {
            self.other_puts.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.put(item, condition).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(pk, sk, condition).await
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        self.inner.query(pk, sk_prefix, page).await
    }

    async fn query_index(
        &self,
        gsi_pk: &str,
        gsi_sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        self.inner.query_index(gsi_pk, gsi_sk_prefix, page).await
    }

    async fn delete_partition(&self, pk: &str) -> Result<usize, StoreError> {
        self.inner.delete_partition(pk).await
    }
}

pub struct World {
    pub app: App,
    pub store: Arc<CountingStore>,
    pub quickbooks: QuickBooksSim,
    pub quickbooks_base: String,
    pub pipedrive: PipedriveSim,
    pub queue: InProcessQueue,
    pub http: reqwest::Client,
    _servers: Vec<RunningServer>,
}

impl World {
    /// Embedded store and secrets.
    pub async fn embedded() -> World {
        World::start(
            Arc::new(EmbeddedStore::in_memory()),
            Arc::new(EmbeddedSecrets::in_memory()),
            "sync-test",
        )
        .await
    }

    pub async fn start(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        secret_prefix: &str,
    ) -> World {
        let credentials = test_credentials();
        let qb_config = QuickBooksConfig {
            client_id: credentials.quickbooks_client_id.clone(),
            client_secret: credentials.quickbooks_client_secret.expose().to_string(),
            auto_approve: true,
            throttle: ThrottleConfig {
                per_minute: 1_000_000,
                concurrent: 1_000,
            },
            webhook: WebhookConfig {
                url: None,
                verifier_token: credentials.quickbooks_webhook_verifier.expose().to_string(),
                format: WebhookFormat::Legacy,
                batch_ms: 0,
            },
            ..QuickBooksConfig::default()
        };
        let (quickbooks, qb_server) =
            QuickBooksSim::start(qb_config, "127.0.0.1:0".parse().unwrap())
                .await
                .expect("QuickBooks simulator starts");
        let pd_config = PipedriveConfig::new(
            credentials.pipedrive_client_id.clone(),
            credentials.pipedrive_client_secret.expose(),
            "http://127.0.0.1:9/oauth/pipedrive/callback",
        );
        let (pipedrive, pd_server) = PipedriveSim::start(pd_config)
            .await
            .expect("Pipedrive simulator starts");
        pipedrive.set_burst_limit(100_000);
        let quickbooks_base = qb_server.base_url();
        let deployment = Deployment::simulated(
            "http://127.0.0.1:9",
            &quickbooks_base,
            &pipedrive.base_url(),
        );
        let store = Arc::new(CountingStore::new(store));
        let app = App::new(
            store.clone(),
            secrets,
            secret_prefix,
            credentials,
            deployment,
        );
        World {
            app,
            store,
            quickbooks,
            quickbooks_base,
            pipedrive,
            queue: InProcessQueue::new(),
            http: shared::clients::outbound::plain_client(),
            _servers: vec![qb_server, pd_server],
        }
    }

    /// A company connected to `realm` by `user` (an admin install), with QuickBooks tokens issued
    /// by the simulator in its vault and the given sync watermark.
    pub async fn connect(
        &self,
        company: u64,
        user: u64,
        realm: &str,
        watermark: Option<DateTime<Utc>>,
    ) {
        if !self.quickbooks.realm_ids().iter().any(|r| r == realm) {
            self.quickbooks.seed_realm(&RealmSeed::us(realm));
        }
        let now = Utc::now();
        let mut profile = CompanyProfile::new(CompanyId(company), now - Duration::days(2));
        profile.quickbooks = Some(QuickBooksConnection {
            realm_id: realm.to_string(),
            environment: QuickBooksEnvironment::Sandbox,
            state: ConnectionState::Connected,
            connected_by: UserId(user),
            connected_at: now - Duration::days(2),
            reason: None,
        });
        profile.linked_realm_id = Some(realm.to_string());
        profile.sync_watermark = watermark;
        self.app
            .records
            .create_company(&profile)
            .await
            .expect("profile created");
        self.app
            .records
            .put_user_install(&UserInstall {
                company_id: CompanyId(company),
                user_id: UserId(user),
                scopes: vec!["base".into(), "deals:full".into()],
                api_domain: self.pipedrive.base_url(),
                name: Some(format!("User {user}")),
                is_admin: true,
                installed_at: now,
                locale: None,
                version: 0,
            })
            .await
            .expect("install stored");
        let issued = self
            .quickbooks
            .issue_tokens(realm)
            .expect("simulator issues tokens");
        let realm = realm.to_string();
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |secrets| {
                secrets.quickbooks = Some(QuickBooksTokens {
                    realm_id: realm,
                    access_token: issued.access_token.into(),
                    access_expires_at: now + Duration::seconds(issued.expires_in),
                    refresh_token: issued.refresh_token.into(),
                    refresh_expires_at: Some(
                        now + Duration::seconds(issued.x_refresh_token_expires_in),
                    ),
                    updated_at: now,
                });
            })
            .await
            .expect("tokens stored");
    }

    /// Gives `user` of `company` Pipedrive tokens issued by the simulator (for deal notes).
    pub async fn pipedrive_tokens(&self, company: u64, user: u64) {
        let issued = self
            .pipedrive
            .issue_tokens(company, user)
            .expect("simulator issues tokens");
        let now = Utc::now();
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |secrets| {
                secrets.pipedrive.insert(
                    user,
                    PipedriveTokens {
                        access_token: issued.access_token.into(),
                        access_expires_at: now + Duration::seconds(issued.expires_in as i64),
                        refresh_token: issued.refresh_token.into(),
                        api_domain: issued.api_domain,
                        scope: Some(issued.scope),
                        updated_at: now,
                    },
                );
            })
            .await
            .expect("tokens stored");
    }

    /// Creates an invoice in the simulator through its API (total `amount`, due in `due_days`).
    pub async fn create_invoice(&self, realm: &str, amount: Decimal, due: NaiveDate) -> Invoice {
        let token = self
            .quickbooks
            .issue_tokens(realm)
            .expect("simulator issues tokens")
            .access_token;
        let customer = self
            .quickbooks
            .customers(realm)
            .expect("realm exists")
            .into_iter()
            .find(|c| c.currency_ref.as_ref().is_none_or(|r| r.value == "USD"))
            .and_then(|c| c.id)
            .expect("a USD customer in the seed");
        let body = json!({
            "CustomerRef": {"value": customer},
            "CurrencyRef": {"value": "USD"},
            "DueDate": due.to_string(),
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": amount,
                      "Description": "Sync test",
                      "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": 1, "UnitPrice": amount}}]
        });
        let response = self
            .http
            .post(format!(
                "{}/v3/company/{realm}/invoice?minorversion=75",
                self.quickbooks_base
            ))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("simulator answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "invoice create: {status} {text}");
        let envelope: InvoiceEnvelope = serde_json::from_str(&text).expect("an invoice");
        envelope.invoice
    }

    /// Links `invoice` of `realm` to `deal` of `company`, as invoice creation does.
    pub async fn link(
        &self,
        company: u64,
        deal: u64,
        realm: &str,
        invoice: &Invoice,
    ) -> InvoiceLink {
        let now = Utc::now();
        let link = link_from_invoice(
            CompanyId(company),
            DealId(deal),
            realm,
            invoice,
            now.date_naive(),
            now,
        )
        .expect("a linkable invoice");
        self.app
            .records
            .create_invoice_link(&link)
            .await
            .expect("link created")
    }

    /// Creates an invoice in the simulator and links it to `deal`.
    pub async fn invoice_on_deal(
        &self,
        company: u64,
        deal: u64,
        realm: &str,
        amount: Decimal,
    ) -> (Invoice, InvoiceLink) {
        let due = Utc::now().date_naive() + Duration::days(30);
        let invoice = self.create_invoice(realm, amount, due).await;
        let link = self.link(company, deal, realm, &invoice).await;
        (invoice, link)
    }

    /// Seeds `count` open links straight into the store (invoices QuickBooks will not report as
    /// changed: the simulator does not need to hold them), due in 30 days.
    pub async fn seed_quiet_links(&self, company: u64, realm: &str, count: usize) {
        let now = Utc::now();
        for i in 0..count {
            let link = InvoiceLink {
                company_id: CompanyId(company),
                deal_id: DealId(10_000 + i as u64),
                realm_id: realm.to_string(),
                invoice_id: format!("{}", 5_000_000 + i),
                doc_number: Some(format!("Q{i}")),
                currency: "USD".into(),
                total: Decimal::new(10_000, 2),
                balance: Decimal::new(10_000, 2),
                txn_date: now.date_naive(),
                due_date: Some(now.date_naive() + Duration::days(30)),
                status: InvoiceStatus::Open,
                customer_id: "1".into(),
                customer_name: None,
                email_sent: false,
                sync_token: Some("0".into()),
                qbo_updated_at: Some(now - Duration::days(3)),
                created_at: now - Duration::days(3),
                updated_at: now - Duration::days(3),
                version: 0,
            };
            self.app
                .records
                .create_invoice_link(&link)
                .await
                .expect("link created");
        }
    }

    pub async fn link_of(&self, link: &InvoiceLink) -> InvoiceLink {
        self.app
            .records
            .get_invoice_link(link.company_id, link.deal_id, &link.invoice_id)
            .await
            .expect("store answers")
            .expect("link exists")
    }

    pub async fn profile(&self, company: u64) -> CompanyProfile {
        self.app
            .records
            .get_company(CompanyId(company))
            .await
            .expect("store answers")
            .expect("profile exists")
    }

    /// QuickBooks API requests (not OAuth, not the control API) to `realm` since the log was
    /// last cleared.
    pub fn api_calls(&self, realm: &str) -> Vec<sandbox::harness::LoggedRequest> {
        self.quickbooks
            .harness()
            .requests_matching(None, &format!("/v3/company/{realm}/"))
    }

    /// One scheduled run: the schedule step, then one SQS-shaped delivery of every job.
    pub async fn scheduled_run(&self) -> (usize, DrainReport) {
        let enqueued = schedule(&self.app, &self.queue)
            .await
            .expect("schedule enqueues");
        let report = drain_once(&self.app, &self.queue, 10, Utc::now()).await;
        (enqueued, report)
    }

    /// Delivers the queued jobs once more (redelivery of failed messages).
    pub async fn redeliver(&self) -> DrainReport {
        drain_once(&self.app, &self.queue, 10, Utc::now()).await
    }
}
