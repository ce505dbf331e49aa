//! A test world for the install flows: both simulators, the install router served on a local
//! port (Pipedrive's uninstall callback needs a real URL), and an [`App`] on the given store and
//! secrets. Shared by `functions/install/tests/*` and `tests/tests/install_flow.rs`.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim, ThrottleConfig};
use serde_json::Value;
use shared::app::testing::{sign_token, test_credentials};
use shared::app::tokens::TokenManager;
use shared::app::{App, Deployment};
use shared::domain::Clock;
use shared::domain::{CompanyId, UserId};
use shared::store::ItemStore;
use shared::store::secrets::{CompanySecrets, SecretStore};
use shared::web::auth::Tenant;

pub use sandbox::pipedrive::seed::{
    COMPANY_A, COMPANY_B, USER_A_ADMIN, USER_A_MEMBER, USER_A_MEMBER_2, USER_B_ADMIN,
};
pub use sandbox::quickbooks::{GB_REALM, US_REALM};

/// An offset added to the app's clock (moved together with the simulators' clocks).
#[derive(Clone, Default)]
pub struct Offset(Arc<AtomicI64>);

impl Offset {
    pub fn clock(&self) -> Clock {
        let offset = self.0.clone();
        Clock::new(move || Utc::now() + Duration::seconds(offset.load(Ordering::SeqCst)))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

pub struct World {
    pub app: App,
    pub base: String,
    pub pipedrive: PipedriveSim,
    pub quickbooks: QuickBooksSim,
    pub store: Arc<dyn ItemStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub prefix: String,
    pub http: reqwest::Client,
    pub offset: Offset,
    _servers: Vec<RunningServer>,
}

impl World {
    pub async fn start(store: Arc<dyn ItemStore>, secrets: Arc<dyn SecretStore>) -> World {
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
        let (quickbooks, qb_server) =
            QuickBooksSim::start(qb_config, "127.0.0.1:0".parse().unwrap())
                .await
                .expect("QuickBooks simulator starts");
        let pd_config = PipedriveConfig::new(
            credentials.pipedrive_client_id.clone(),
            credentials.pipedrive_client_secret.expose(),
            format!("{base}/oauth/pipedrive/callback"),
        );
        let (pipedrive, pd_server) = PipedriveSim::start(pd_config)
            .await
            .expect("Pipedrive simulator starts");
        pipedrive.set_burst_limit(100_000);
        let deployment = Deployment::simulated(&base, &qb_server.base_url(), &pipedrive.base_url());
        let prefix = format!("install-test-{}", uuid::Uuid::new_v4().simple());
        let mut app = App::new(
            store.clone(),
            secrets.clone(),
            &prefix,
            credentials,
            deployment,
        );
        let offset = Offset::default();
        app.tokens = Arc::new(manager_for(&app).with_clock(offset.clock()));
        let router = shared::web::http::finish(install::router(app.clone()));
        let server =
            sandbox::harness::serve_listener(router, listener).expect("install router serves");
        World {
            app,
            base,
            pipedrive,
            quickbooks,
            store,
            secrets,
            prefix,
            http: shared::clients::outbound::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            offset,
            _servers: vec![server, qb_server, pd_server],
        }
    }

    /// Another "Lambda instance": its own caches and token manager on the same store and
    /// secrets (and the same clock).
    pub fn instance(&self, secrets: Arc<dyn SecretStore>) -> App {
        let mut app = App::new(
            self.store.clone(),
            secrets,
            &self.prefix,
            test_credentials(),
            (*self.app.deployment).clone(),
        );
        app.tokens = Arc::new(manager_for(&app).with_clock(self.offset.clock()));
        app
    }

    /// Moves the app's clock and both simulators' clocks together.
    pub fn advance(&self, secs: i64) {
        self.offset.advance(secs);
        self.quickbooks.advance_clock(secs);
        self.pipedrive.advance_clock(secs);
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.app.tokens.now()
    }

    /// Installs the app for a seed user through the browser flow (Pipedrive's consent page in
    /// auto-approve mode, then our callback). Returns our callback's answer.
    pub async fn install(&self, company: u64, user: u64) -> reqwest::Response {
        self.install_flow(company, user).await.1
    }

    /// [`Self::install`], also returning the callback URL Pipedrive redirected to.
    pub async fn install_flow(&self, company: u64, user: u64) -> (String, reqwest::Response) {
        let authorize = format!(
            "{}/oauth/authorize?client_id={}&redirect_uri={}&auto=1&company_id={company}&user_id={user}",
            self.pipedrive.base_url(),
            self.app.credentials.pipedrive_client_id,
            urlencode(&format!("{}/oauth/pipedrive/callback", self.base)),
        );
        let consent = self.http.get(authorize).send().await.unwrap();
        let callback = location(&consent);
        assert!(
            callback.starts_with(&self.base),
            "Pipedrive redirects to our callback: {callback}"
        );
        let response = self.http.get(&callback).send().await.unwrap();
        (callback, response)
    }

    /// `POST /api/quickbooks/connect` as a user, with an optional JSON body.
    pub async fn connect_request(
        &self,
        company: u64,
        user: u64,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/quickbooks/connect", self.base))
            .bearer_auth(jwt(company, user));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// The URL QuickBooks redirects back to after the user chose `realm` on the consent page.
    pub async fn quickbooks_callback_url(
        &self,
        company: u64,
        user: u64,
        realm: &str,
        body: Option<Value>,
    ) -> String {
        let response = self.connect_request(company, user, body).await;
        assert_eq!(response.status(), 200, "connect answers the authorize URL");
        let json: Value = response.json().await.unwrap();
        let authorize = json["authorize_url"].as_str().unwrap().to_string();
        let consent = self
            .http
            .get(format!("{authorize}&realm_id={realm}"))
            .send()
            .await
            .unwrap();
        let callback = location(&consent);
        assert!(
            callback.starts_with(&format!("{}/oauth/quickbooks/callback", self.base)),
            "{callback}"
        );
        callback
    }

    /// The whole connect flow; returns our callback's status and page.
    pub async fn connect(&self, company: u64, user: u64, realm: &str) -> (u16, String) {
        let callback = self
            .quickbooks_callback_url(company, user, realm, None)
            .await;
        let response = self.http.get(callback).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn api(&self, method: &str, path: &str, company: u64, user: u64) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(jwt(company, user))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

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

    /// Every item of a company's partition.
    pub async fn partition(&self, company: u64) -> Vec<shared::store::Item> {
        let page = self
            .store
            .query(
                &format!("COMPANY#{company}"),
                "",
                shared::store::PageRequest::first(1000),
            )
            .await
            .unwrap();
        page.items
    }

    /// Token-endpoint calls the QuickBooks simulator received.
    pub fn quickbooks_token_calls(&self) -> usize {
        self.quickbooks
            .harness()
            .requests_matching(Some("POST"), "/oauth2/v1/tokens/bearer")
            .len()
    }

    /// Refresh calls the Pipedrive simulator received.
    pub fn pipedrive_refresh_calls(&self) -> usize {
        self.pipedrive
            .harness()
            .requests_matching(Some("POST"), "/oauth/token")
            .iter()
            .filter(|r| r.body.contains("grant_type=refresh_token"))
            .count()
    }
}

pub fn manager_for(app: &App) -> TokenManager {
    TokenManager::new(
        app.records.clone(),
        app.vault.clone(),
        &app.credentials,
        app.quickbooks.clone(),
        app.pipedrive.clone(),
    )
}

pub fn tenant(company: u64, user: u64) -> Tenant {
    Tenant {
        company_id: CompanyId(company),
        user_id: UserId(user),
    }
}

pub fn jwt(company: u64, user: u64) -> String {
    sign_token(tenant(company, user))
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn location(response: &reqwest::Response) -> String {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Replaces one query parameter of a URL (or appends it).
pub fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with(&format!("{name}=")))
        .map(str::to_string)
        .collect();
    if let Some(v) = value {
        pairs.push(format!("{name}={}", urlencode(v)));
    }
    format!("{base}?{}", pairs.join("&"))
}

/// A query parameter's (decoded) value.
pub fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
