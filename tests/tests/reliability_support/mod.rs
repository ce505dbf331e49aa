//! What the reliability suites share: a world with both simulators and every function's router
//! served over HTTP on a local port (the same routers the Lambda binaries and `cargo run -p local`
//! run), companies connected by seeding the store and the token vault directly (a `Connected`
//! profile, user installs, tokens issued by the simulators), snapshots of everything stored, and
//! the counts file `target/reliability/<suite>.json` that `tests/reliability/fuzz.sh` summarises.

#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim, ThrottleConfig};
use serde_json::{Value, json};
use shared::app::testing::{sign_token, tenant, test_credentials};
use shared::app::tokens::TokenManager;
use shared::app::{App, Deployment};
use shared::clients::pipedrive::PipedriveClient;
use shared::clients::quickbooks::QuickBooksClient;
use shared::domain::{
    CompanyId, CompanyProfile, ConnectionState, QuickBooksConnection, QuickBooksEnvironment,
    Settings, UserId, UserInstall,
};
use shared::store::secrets::{PipedriveTokens, QuickBooksTokens, SecretStore};
use shared::store::{ItemStore, PageRequest};
use shared::web::http::Route;

pub use sandbox::pipedrive::seed::{
    COMPANY_A, COMPANY_B, USER_A_ADMIN, USER_A_MEMBER, USER_B_ADMIN, USER_B_MEMBER,
};
pub use sandbox::quickbooks::{GB_REALM, US_REALM};

/// Every deployed route (what template.yaml and the OpenAPI description list), by function:
/// `local::function_routes()`, so a route is covered the day its function joins the local server.
pub fn all_routes() -> Vec<(&'static str, Route)> {
    local::function_routes()
}

/// Every function's router, merged and finished exactly as `cargo run -p local` serves them.
pub fn full_router(app: &App) -> Router {
    local::routes(app.clone())
}

/// The invoicing routers only (create + actions), for the fault run.
pub fn invoicing_router(app: &App) -> Router {
    shared::web::http::finish(
        invoice_create::router(app.clone()).merge(invoice_actions::router(app.clone())),
    )
}

pub struct World {
    pub app: App,
    pub base: String,
    pub qb: QuickBooksSim,
    pub pd: PipedriveSim,
    pub store: Arc<dyn ItemStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub prefix: String,
    pub http: reqwest::Client,
    _servers: Vec<RunningServer>,
}

/// How a world is built.
pub struct Options {
    /// Timeout of the app's calls to QuickBooks and Pipedrive (the deployed value is 8 s; the
    /// fault run uses a short one so injected timeouts cost little).
    pub upstream_timeout: Option<Duration>,
    pub router: fn(&App) -> Router,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            upstream_timeout: None,
            router: full_router,
        }
    }
}

/// One answer of our API.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub text: String,
    pub json: Value,
}

impl Answer {
    pub fn is_problem(&self) -> bool {
        self.content_type.starts_with("application/problem+json")
    }

    /// The human `detail` of a problem answer ("" when absent).
    pub fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or("")
    }
}

impl World {
    pub async fn start(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        options: Options,
    ) -> World {
        // Bound now (the router needs its own URL first) and served on below: never let go.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        let base = format!("http://{addr}");
        let credentials = test_credentials();
        let qb_config = QuickBooksConfig {
            client_id: credentials.quickbooks_client_id.clone(),
            client_secret: credentials.quickbooks_client_secret.expose().to_string(),
            redirect_uris: vec![format!("{base}/oauth/quickbooks/callback")],
            auto_approve: true,
            throttle: ThrottleConfig {
                per_minute: 100_000,
                concurrent: 1_000,
            },
            ..QuickBooksConfig::default()
        };
        let (qb, qb_server) = QuickBooksSim::start(qb_config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("QuickBooks simulator starts");
        let pd_config = PipedriveConfig::new(
            credentials.pipedrive_client_id.clone(),
            credentials.pipedrive_client_secret.expose(),
            format!("{base}/oauth/pipedrive/callback"),
        );
        let (pd, pd_server) = PipedriveSim::start(pd_config)
            .await
            .expect("Pipedrive simulator starts");
        pd.set_burst_limit(100_000);
        let deployment = Deployment::simulated(&base, &qb_server.base_url(), &pd.base_url());
        let prefix = format!("rel-{}", uuid::Uuid::new_v4().simple());
        let mut app = App::new(
            store.clone(),
            secrets.clone(),
            &prefix,
            credentials,
            deployment,
        );
        if let Some(timeout) = options.upstream_timeout {
            let http = shared::clients::outbound::client_builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            app.quickbooks =
                QuickBooksClient::with_http(http.clone(), app.deployment.quickbooks.clone());
            app.pipedrive = PipedriveClient::with_http(http, app.deployment.pipedrive.clone());
            app.tokens = Arc::new(TokenManager::new(
                app.records.clone(),
                app.vault.clone(),
                &app.credentials,
                app.quickbooks.clone(),
                app.pipedrive.clone(),
            ));
        }
        let server = sandbox::harness::serve_listener((options.router)(&app), listener)
            .expect("the app serves");
        World {
            app,
            base,
            qb,
            pd,
            store,
            secrets,
            prefix,
            http: shared::clients::outbound::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            _servers: vec![server, qb_server, pd_server],
        }
    }

    /// Connects `company` to `realm` (connected by `user`, an admin), installs `user`.
    pub async fn connect(&self, company: u64, user: u64, realm: &str) {
        let now = Utc::now();
        let mut profile = CompanyProfile::new(CompanyId(company), now);
        profile.settings = Settings::default();
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
        self.install(company, user, true).await;
        let qb = self.qb.issue_tokens(realm).unwrap();
        let realm = realm.to_string();
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |s| {
                s.quickbooks = Some(QuickBooksTokens {
                    realm_id: realm,
                    access_token: qb.access_token.into(),
                    access_expires_at: now + chrono::Duration::seconds(qb.expires_in),
                    refresh_token: qb.refresh_token.into(),
                    refresh_expires_at: None,
                    updated_at: now,
                });
            })
            .await
            .unwrap();
    }

    /// Installs the app for `user` (install record and Pipedrive tokens).
    pub async fn install(&self, company: u64, user: u64, is_admin: bool) {
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
                is_admin,
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
                            + chrono::Duration::seconds(
                                i64::try_from(tokens.expires_in).unwrap_or(3600),
                            ),
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

    /// Marks every access token of a company as expired in the vault (the next call refreshes
    /// through the simulators' token endpoints).
    pub async fn expire_tokens(&self, company: u64) {
        let past = Utc::now() - chrono::Duration::seconds(10);
        self.app
            .tokens
            .update_secrets(CompanyId(company), move |s| {
                if let Some(q) = s.quickbooks.as_mut() {
                    q.access_expires_at = past;
                }
                for p in s.pipedrive.values_mut() {
                    p.access_expires_at = past;
                }
            })
            .await
            .unwrap();
    }

    /// A raw request with whatever headers the caller sets.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// An API call as the iframe makes it: `Authorization: Bearer` with a fresh token of `who`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        who: (u64, u64),
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self
            .request(method, path)
            .bearer_auth(sign_token(tenant(who.0, who.1)));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        answer(request.send().await.expect("the app answers")).await
    }

    /// Every record of a company's partition (sort key → data).
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

    /// Every company's records and every secret of this deployment, for "nothing changed".
    pub async fn snapshot(&self) -> Value {
        let mut companies = serde_json::Map::new();
        for company in [COMPANY_A, COMPANY_B] {
            companies.insert(
                company.to_string(),
                serde_json::to_value(self.dump(company).await).unwrap(),
            );
        }
        let mut secrets = serde_json::Map::new();
        for name in self.app.vault.list_company_secrets().await.unwrap() {
            let value = self.secrets.get(&name).await.unwrap();
            secrets.insert(name, json!(value));
        }
        json!({"records": companies, "secrets": secrets})
    }

    /// Links a product to an item and the deal's party to a customer through the API.
    pub async fn link_item(&self, who: (u64, u64), product: u64, item: &str) {
        let a = self
            .call(
                "PUT",
                &format!("/api/products/{product}/item-link"),
                who,
                Some(&json!({"item_id": item})),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }

    pub async fn link_customer(&self, who: (u64, u64), deal: u64, customer: &str) {
        let a = self
            .call(
                "PUT",
                &format!("/api/deals/{deal}/customer-link"),
                who,
                Some(&json!({"customer_id": customer, "update_customer": false})),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }

    pub async fn draft(&self, who: (u64, u64), deal: u64) -> Value {
        let a = self
            .call("GET", &format!("/api/deals/{deal}/draft"), who, None, None)
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let mut draft = a.json;
        if draft["tax_note"].is_string() {
            // The products' tax matches none of the US company's sales tax rates, so none is
            // pre-selected: choose California's, as a rep would.
            assert_eq!(
                draft["problems"],
                json!([{"field": "txn_tax_code", "message": "Choose the sales tax rate for the taxable lines."}])
            );
            draft["form"]["txn_tax_code"] = json!("2");
            draft["problems"] = json!([]);
        }
        assert_eq!(draft["problems"], json!([]), "{draft:#}");
        draft
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let bytes = response.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        retry_after,
        text,
        json,
    }
}

/// Writes a suite's counts to `target/reliability/<suite>.json` (summarised by
/// `tests/reliability/fuzz.sh` at the end of `tests/run`).
pub fn write_counts(suite: &str, counts: Value) {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    let dir = target.join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let mut counts = counts;
    counts["suite"] = json!(suite);
    counts["at"] = json!(Utc::now().to_rfc3339());
    std::fs::write(
        dir.join(format!("{suite}.json")),
        serde_json::to_string_pretty(&counts).unwrap(),
    )
    .unwrap();
    println!("reliability counts ({suite}): {counts}");
}
