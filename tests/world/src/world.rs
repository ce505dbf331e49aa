//! The world: both simulators on local ports, an [`App`] wired to them on embedded or
//! moto-backed storage with the movable clock, and (when a test hands one in) a router served on
//! a local port and called over HTTP.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{
    QuickBooksConfig, QuickBooksSim, ThrottleConfig, WebhookConfig, WebhookFormat,
};
use serde_json::{Value, json};
use shared::app::sync::jobs::InProcessQueue;
use shared::app::{App, Deployment};
use shared::domain::{ActivityEvent, CompanyId, CompanyProfile, DealId, InvoiceLink};
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use shared::store::secrets::{CompanySecrets, SecretStore};
use shared::store::{Item, ItemStore, PageRequest};

use crate::answer::Caller;
use crate::app::{AppOptions, app_on};
use crate::clock::TestClock;
use crate::store::CountingStore;
use crate::tokens::test_credentials;
use crate::{COMPANY_A, COMPANY_B, moto};

/// Where nothing listens: the base URL of a world that serves no router.
const NOWHERE: &str = "http://127.0.0.1:9";

type RouterFn = Box<dyn FnOnce(&App) -> Router + Send>;
type LayerFn = Box<dyn FnOnce(&QuickBooksSim, Router) -> Router + Send>;

/// How a world is built ([`World::builder`]); by default on fresh in-memory backends, serving
/// nothing.
#[derive(Default)]
pub struct WorldBuilder {
    moto: bool,
    store: Option<Arc<dyn ItemStore>>,
    secrets: Option<Arc<dyn SecretStore>>,
    router: Option<RouterFn>,
    quickbooks_layer: Option<LayerFn>,
    upstream_timeout: Option<Duration>,
    time_zone: Option<String>,
}

impl WorldBuilder {
    /// The store and secrets on the shared moto server (a new table; secrets kept apart by the
    /// world's prefix), unless given below.
    pub fn moto(mut self) -> Self {
        self.moto = true;
        self
    }

    pub fn store(mut self, store: Arc<dyn ItemStore>) -> Self {
        self.store = Some(store);
        self
    }

    pub fn secrets(mut self, secrets: Arc<dyn SecretStore>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Serves `router(app)` on a local port ([`World::base`]) — the function's router, finished
    /// as its Lambda entry point finishes it.
    pub fn serving(mut self, router: impl FnOnce(&App) -> Router + Send + 'static) -> Self {
        self.router = Some(Box::new(router));
        self
    }

    /// Serves the QuickBooks simulator's router wrapped by `wrap` (a layer that acts between the
    /// app's calls, e.g. an edit "in the QuickBooks UI").
    pub fn quickbooks_layer(
        mut self,
        wrap: impl FnOnce(&QuickBooksSim, Router) -> Router + Send + 'static,
    ) -> Self {
        self.quickbooks_layer = Some(Box::new(wrap));
        self
    }

    /// Timeout of the app's calls to QuickBooks and Pipedrive (the deployed value is 8 s).
    pub fn upstream_timeout(mut self, timeout: Duration) -> Self {
        self.upstream_timeout = Some(timeout);
        self
    }

    /// The time zone of the companies the world connects (default: the product's, UTC).
    pub fn time_zone(mut self, zone: &str) -> Self {
        self.time_zone = Some(zone.to_string());
        self
    }

    pub async fn start(self) -> World {
        // Bound now (the app needs its own URL first) and served on below: never let go.
        let listener = match self.router {
            Some(_) => Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a free port"),
            ),
            None => None,
        };
        let base = match &listener {
            Some(l) => format!("http://{}", l.local_addr().expect("local address")),
            None => NOWHERE.to_string(),
        };
        let (quickbooks, qb_server) = start_quickbooks(&base, self.quickbooks_layer).await;
        let (pipedrive, pd_server) = start_pipedrive(&base).await;
        let store = match (self.store, self.moto) {
            (Some(store), _) => store,
            (None, true) => moto::dynamo_store().await,
            (None, false) => Arc::new(EmbeddedStore::in_memory()),
        };
        let secrets = match (self.secrets, self.moto) {
            (Some(secrets), _) => secrets,
            (None, true) => moto::secrets_store().await,
            (None, false) => Arc::new(EmbeddedSecrets::in_memory()),
        };
        let store = Arc::new(CountingStore::new(store));
        let clock = TestClock::new();
        let prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
        let deployment = Deployment::simulated(&base, &qb_server.base_url(), &pipedrive.base_url());
        let app = app_on(
            store.clone(),
            secrets.clone(),
            AppOptions {
                secret_prefix: prefix.clone(),
                deployment,
                clock: clock.clock(),
                upstream_timeout: self.upstream_timeout,
            },
        );
        let mut servers = vec![qb_server, pd_server];
        if let (Some(router), Some(listener)) = (self.router, listener) {
            let server =
                sandbox::harness::serve_listener(router(&app), listener).expect("the app serves");
            servers.push(server);
        }
        let http = shared::clients::outbound::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        World {
            app,
            quickbooks,
            pipedrive,
            store,
            secrets,
            prefix,
            caller: Caller {
                base,
                http,
                clock: clock.clone(),
            },
            clock,
            queue: InProcessQueue::new(),
            time_zone: self.time_zone,
            _servers: servers,
        }
    }
}

/// The QuickBooks simulator: the test app's client, redirects to the world's callback, consent
/// approved at once, no throttling, webhooks signed with the app's verifier.
async fn start_quickbooks(base: &str, layer: Option<LayerFn>) -> (QuickBooksSim, RunningServer) {
    let credentials = test_credentials();
    let sim = QuickBooksSim::new(QuickBooksConfig {
        client_id: credentials.quickbooks_client_id.clone(),
        client_secret: credentials.quickbooks_client_secret.expose().to_string(),
        redirect_uris: vec![format!("{base}/oauth/quickbooks/callback")],
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
    });
    let router = match layer {
        Some(wrap) => wrap(&sim, sim.router()),
        None => sim.router(),
    };
    let server = sandbox::harness::serve(router, "127.0.0.1:0".parse().expect("an address"))
        .await
        .expect("QuickBooks simulator starts");
    sim.spawn_webhook_sender();
    (sim, server)
}

/// The Pipedrive simulator: the test app's client, installs return to the world's callback, no
/// burst limit to speak of.
async fn start_pipedrive(base: &str) -> (PipedriveSim, RunningServer) {
    let credentials = test_credentials();
    let (sim, server) = PipedriveSim::start(PipedriveConfig::new(
        credentials.pipedrive_client_id.clone(),
        credentials.pipedrive_client_secret.expose(),
        format!("{base}/oauth/pipedrive/callback"),
    ))
    .await
    .expect("Pipedrive simulator starts");
    sim.set_burst_limit(100_000);
    (sim, server)
}

pub struct World {
    pub app: App,
    pub quickbooks: QuickBooksSim,
    pub pipedrive: PipedriveSim,
    /// The backend the app writes to, counting writes (and failing them on demand).
    pub store: Arc<CountingStore>,
    pub secrets: Arc<dyn SecretStore>,
    /// The app's secret prefix (unique per world).
    pub prefix: String,
    /// The app's clock; [`World::advance`] moves it with the simulators' clocks.
    pub clock: TestClock,
    /// The sync's job queue, in process (what SQS does in AWS).
    pub queue: InProcessQueue,
    /// Calls the served router: `w.call(…)`, `w.request(…)`, `w.base`, `w.http` (through
    /// `Deref`); clone it into spawned tasks.
    pub caller: Caller,
    pub(crate) time_zone: Option<String>,
    _servers: Vec<RunningServer>,
}

impl Deref for World {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl World {
    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    /// A world on fresh in-memory backends, serving nothing.
    pub async fn embedded() -> World {
        World::builder().start().await
    }

    /// Moves the app's clock and both simulators' clocks together.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(secs);
        self.quickbooks.advance_clock(secs);
        self.pipedrive.advance_clock(secs);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Another "Lambda instance": its own caches and token manager on the same store and
    /// secrets (or other `secrets`), the same deployment and clock.
    pub fn instance(&self, secrets: Arc<dyn SecretStore>) -> App {
        app_on(
            self.store.clone(),
            secrets,
            AppOptions {
                secret_prefix: self.prefix.clone(),
                deployment: (*self.app.deployment).clone(),
                clock: self.clock.clock(),
                upstream_timeout: None,
            },
        )
    }

    /// Every item of a company's partition, in key order.
    pub async fn dump(&self, company: u64) -> Vec<Item> {
        self.store
            .query(&format!("COMPANY#{company}"), "", PageRequest::first(1000))
            .await
            .expect("partition readable")
            .items
    }

    /// Every record of a company (sort key → data), for "nothing stored half-way" checks.
    pub async fn records(&self, company: u64) -> Vec<(String, Value)> {
        let items = self.dump(company).await;
        items
            .into_iter()
            .map(|i| (i.sk.to_string(), Arc::unwrap_or_clone(i.data)))
            .collect()
    }

    /// Sort keys of a company's records, by prefix.
    pub async fn keys(&self, company: u64, prefix: &str) -> Vec<String> {
        let items = self.dump(company).await;
        items
            .into_iter()
            .map(|i| i.sk.to_string())
            .filter(|sk| sk.starts_with(prefix))
            .collect()
    }

    /// The records of the seeded companies and every secret of this world's app, for "nothing
    /// changed".
    pub async fn snapshot(&self) -> Value {
        let mut companies = serde_json::Map::new();
        for company in [COMPANY_A, COMPANY_B] {
            let records = self.records(company).await;
            companies.insert(company.to_string(), json!(records));
        }
        let mut secrets = serde_json::Map::new();
        for name in self.app.vault.list_company_secrets().await.unwrap() {
            let value = self.secrets.get(&name).await.unwrap();
            secrets.insert(name, json!(value));
        }
        json!({"records": companies, "secrets": secrets})
    }

    /// A company's secrets as the vault reads them (not cached).
    pub async fn secrets_of(&self, company: u64) -> CompanySecrets {
        self.app
            .vault
            .read_fresh(CompanyId(company))
            .await
            .expect("secret readable")
    }

    /// The raw secret of a company as stored (None when absent).
    pub async fn raw_secret(&self, company: u64) -> Option<String> {
        self.secrets
            .get(&self.app.vault.secret_name(CompanyId(company)))
            .await
            .unwrap()
    }

    pub async fn profile(&self, company: u64) -> CompanyProfile {
        self.app
            .records
            .get_company(CompanyId(company))
            .await
            .expect("store answers")
            .expect("profile exists")
    }

    pub async fn stored_link(&self, company: u64, deal: u64, id: &str) -> Option<InvoiceLink> {
        self.app
            .records
            .get_invoice_link(CompanyId(company), DealId(deal), id)
            .await
            .expect("store readable")
    }

    /// The link as stored now.
    pub async fn link_of(&self, link: &InvoiceLink) -> InvoiceLink {
        let (company, deal) = (link.company_id.0, link.deal_id.0);
        let stored = self.stored_link(company, deal, &link.invoice_id).await;
        stored.expect("link exists")
    }

    /// The deal's activity events (newest first), as the store has them.
    pub async fn activity(&self, company: u64, deal: u64) -> Vec<ActivityEvent> {
        self.app
            .records
            .deal_activity(CompanyId(company), DealId(deal), 200)
            .await
            .expect("activity readable")
    }
}
