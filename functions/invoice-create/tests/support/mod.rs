//! A world for the invoice-create tests: both simulators on local ports, an app on a given store
//! and secret store, companies connected by seeding the store and the token vault directly (a
//! `Connected` profile, user installs, tokens issued by the simulators), and a way to call the
//! router as Pipedrive's iframe would.

#![allow(dead_code, unused_imports)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::body::Body;
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim};
use serde_json::Value;
use shared::app::testing::{sign_token, tenant, test_credentials};
use shared::app::{App, Deployment};
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
    Settings, UserId, UserInstall,
};
use shared::store::embedded::EmbeddedStore;
use shared::store::secrets::embedded::EmbeddedSecrets;
use shared::store::secrets::{PipedriveTokens, QuickBooksTokens, SecretStore};
use shared::store::{Condition, Item, ItemStore, Page, PageRequest, StoreError};
use tower::ServiceExt;

pub use sandbox::pipedrive::seed::{
    COMPANY_A, COMPANY_B, ORG_TAX_ID_FIELD_A, USER_A_ADMIN, USER_B_ADMIN,
};
pub use sandbox::quickbooks::{GB_REALM, US_REALM};

pub struct World {
    pub app: App,
    pub store: Arc<dyn ItemStore>,
    pub qb: QuickBooksSim,
    pub pd: PipedriveSim,
    qb_server: RunningServer,
    pd_server: RunningServer,
}

impl World {
    pub async fn start(store: Arc<dyn ItemStore>, secrets: Arc<dyn SecretStore>) -> World {
        World::start_with(store, secrets, |_, router| router).await
    }

    /// [`World::start`] with the QuickBooks simulator's router wrapped by `wrap` (a layer that
    /// acts between the app's calls, e.g. an edit "in the QuickBooks UI").
    pub async fn start_with(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        wrap: impl FnOnce(&QuickBooksSim, axum::Router) -> axum::Router,
    ) -> World {
        let qb = QuickBooksSim::new(QuickBooksConfig::default());
        let qb_server =
            sandbox::harness::serve(wrap(&qb, qb.router()), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        qb.spawn_webhook_sender();
        let (pd, pd_server) = PipedriveSim::start(PipedriveConfig::default())
            .await
            .unwrap();
        let deployment = Deployment::simulated(
            "http://127.0.0.1:9",
            &qb_server.base_url(),
            &pd_server.base_url(),
        );
        let prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
        let app = App::new(
            store.clone(),
            secrets,
            &prefix,
            test_credentials(),
            deployment,
        );
        World {
            app,
            store,
            qb,
            pd,
            qb_server,
            pd_server,
        }
    }

    pub async fn embedded() -> World {
        World::start(
            Arc::new(EmbeddedStore::in_memory()),
            Arc::new(EmbeddedSecrets::in_memory()),
        )
        .await
    }

    /// Connects `company` to `realm` (connected by `user`), installs `user`, with `settings`.
    pub async fn connect_with(&self, company: u64, user: u64, realm: &str, settings: Settings) {
        let now = Utc::now();
        let mut profile = CompanyProfile::new(CompanyId(company), now);
        profile.settings = settings;
        profile.time_zone = "Europe/Berlin".into();
        profile.linked_realm_id = Some(realm.into());
        profile.quickbooks = Some(QuickBooksConnection {
            realm_id: realm.into(),
            environment: QuickBooksEnvironment::Sandbox,
            state: ConnectionState::Connected,
            connected_by: UserId(user),
            connected_at: now,
            reason: None,
        });
        self.app.records.create_company(&profile).await.unwrap();
        self.install(company, user).await;
        let qb = self.qb.issue_tokens(realm).unwrap();
        let realm = realm.to_string();
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |s| {
                s.quickbooks = Some(QuickBooksTokens {
                    realm_id: realm,
                    access_token: qb.access_token.into(),
                    access_expires_at: now + Duration::seconds(qb.expires_in),
                    refresh_token: qb.refresh_token.into(),
                    refresh_expires_at: None,
                    updated_at: now,
                });
            })
            .await
            .unwrap();
    }

    pub async fn connect(&self, company: u64, user: u64, realm: &str) {
        self.connect_with(company, user, realm, Settings::default())
            .await;
    }

    /// Installs the app for `user` (install record and Pipedrive tokens).
    pub async fn install(&self, company: u64, user: u64) {
        let now = Utc::now();
        let tokens = self.pd.issue_tokens(company, user).unwrap();
        self.app
            .records
            .put_user_install(&UserInstall {
                company_id: CompanyId(company),
                user_id: UserId(user),
                scopes: tokens.scope.split(',').map(str::to_string).collect(),
                api_domain: tokens.api_domain.clone(),
                name: None,
                is_admin: true,
                installed_at: now,
                locale: None,
                version: 0,
            })
            .await
            .unwrap();
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |s| {
                s.pipedrive.insert(
                    user,
                    PipedriveTokens {
                        access_token: tokens.access_token.into(),
                        access_expires_at: now
                            + Duration::seconds(i64::try_from(tokens.expires_in).unwrap_or(3600)),
                        refresh_token: tokens.refresh_token.into(),
                        api_domain: tokens.api_domain,
                        scope: Some(tokens.scope),
                        updated_at: now,
                    },
                );
            })
            .await
            .unwrap();
    }

    /// Calls the function's router as the iframe would (signed token of `company`/`user`).
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        who: (u64, u64),
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        call_app(&self.app, method, uri, who, body, key).await
    }

    /// Every record of a company (sort key → data), for "nothing stored half-way" checks.
    pub async fn dump(&self, company: u64) -> Vec<(String, Value)> {
        let page = self
            .store
            .query(&format!("COMPANY#{company}"), "", PageRequest::first(1000))
            .await
            .unwrap();
        page.items
            .into_iter()
            .map(|i| (i.sk.to_string(), std::sync::Arc::unwrap_or_clone(i.data)))
            .collect()
    }

    /// Sort keys of a company's records, by prefix.
    pub async fn keys(&self, company: u64, prefix: &str) -> Vec<String> {
        self.dump(company)
            .await
            .into_iter()
            .map(|(sk, _)| sk)
            .filter(|sk| sk.starts_with(prefix))
            .collect()
    }

    /// Links a product to an item and the deal's party to a customer through the API.
    pub async fn link_item(&self, who: (u64, u64), product: u64, item: &str) {
        let (status, body) = self
            .call(
                "PUT",
                &format!("/api/products/{product}/item-link"),
                who,
                Some(&serde_json::json!({"item_id": item})),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn link_customer(&self, who: (u64, u64), deal: u64, customer: &str) {
        let (status, body) = self
            .call(
                "PUT",
                &format!("/api/deals/{deal}/customer-link"),
                who,
                Some(&serde_json::json!({"customer_id": customer, "update_customer": false})),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn draft(&self, who: (u64, u64), deal: u64) -> Value {
        let (status, body) = self
            .call("GET", &format!("/api/deals/{deal}/draft"), who, None, None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

pub async fn call_app(
    app: &App,
    method: &str,
    uri: &str,
    who: (u64, u64),
    body: Option<&Value>,
    key: Option<&str>,
) -> (u16, Value) {
    let router = shared::web::http::finish(invoice_create::router(app.clone()));
    let mut request = http::Request::builder().method(method).uri(uri).header(
        "authorization",
        format!("Bearer {}", sign_token(tenant(who.0, who.1))),
    );
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let request = request
        .body(match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        })
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let is_problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status >= 400 {
        assert!(is_problem, "errors are problem+json: {status} {value}");
    }
    (status, value)
}

/// A store that fails the first `fail` writes of items whose sort key contains `needle` (a crash
/// between the QuickBooks call and the link write).
pub struct FailingStore {
    pub inner: Arc<dyn ItemStore>,
    pub needle: &'static str,
    pub remaining: AtomicUsize,
}

impl FailingStore {
    pub fn new(inner: Arc<dyn ItemStore>, needle: &'static str, fail: usize) -> Self {
        FailingStore {
            inner,
            needle,
            remaining: AtomicUsize::new(fail),
        }
    }
}

#[async_trait]
impl ItemStore for FailingStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<Item, StoreError> {
        if item.sk.contains(self.needle)
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StoreError::Backend("injected crash".into()));
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

/// The requests QuickBooks received to create invoices (POST /invoice without `operation`).
pub fn invoice_posts(qb: &QuickBooksSim, realm: &str) -> Vec<sandbox::harness::LoggedRequest> {
    qb.harness()
        .requests_matching(Some("POST"), &format!("/v3/company/{realm}/invoice"))
        .into_iter()
        .filter(|r| r.path.ends_with("/invoice"))
        .filter(|r| !r.query.as_deref().unwrap_or("").contains("operation="))
        .collect()
}
