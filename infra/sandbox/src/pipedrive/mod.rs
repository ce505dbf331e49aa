//! Simulated Pipedrive: one HTTP server that plays both `oauth.pipedrive.com` and the company
//! API domains (`api_domain` in token answers is the simulator's own base URL), built from the
//! public documentation (see `tests/fixtures/pipedrive/` and the model in
//! [`shared::wire::pipedrive::model`]).
//!
//! | area | routes |
//! |---|---|
//! | OAuth | `GET/POST /oauth/authorize`, `POST /oauth/token`, `POST /oauth/revoke` |
//! | API v1 | `GET /api/v1/users/me`, `POST /api/v1/notes` (also without the `/api` prefix) |
//! | API v2 | `GET /api/v2/deals/{id}`, `/deals/{id}/products`, `/deals/{id}/discounts`, `/organizations/{id}`, `/persons/{id}`, `/products/{id}`, `/dealFields`, `/organizationFields`, `/personFields`; `GET /api/v2/deals` (`updated_since`, `ids`, …), `PATCH /api/v2/deals/{id}`, `GET /api/v2/pipelines`, `/stages` (see [`deals`]) |
//! | control | `/_sim/…` (see [`control`]) |
//!
//! Behaviour: Bearer tokens decide the company and user (tenant isolation: another company's ids
//! are 404); 1-hour access tokens, refresh tokens that expire after 60 days unused (simulator
//! clock); scopes are checked per endpoint; every API answer carries the burst headers
//! (`x-ratelimit-*`) and the daily token-budget headers (`x-daily-ratelimit-token-*`), and 429 is
//! answered when a token's burst (per 2-second window) or the company's daily budget is spent.
//! Latency and faults come from the shared [`Harness`](crate::harness::Harness).
//!
//! The seed data is described on [`seed`].

mod api;
mod app;
pub mod control;
pub mod deals;
mod oauth;
pub mod seed;
pub mod shape;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::{IntoResponse, Response};
use shared::wire::pipedrive::model::{
    Deal, DealDiscount, DealProduct, DealUpdate, FieldDefinition, IframeClaims, Organization,
    Person, Product, TokenResponse,
};

use crate::harness::{self, FaultResponses, Harness, LoggedRequest, RunningServer, lock};

pub use api::RateLimitHeaders;
pub use app::uninstall_body;
pub use oauth::{ACCESS_TOKEN_TTL_SECS, AUTH_CODE_TTL_SECS, REFRESH_TOKEN_IDLE_SECS};
pub use store::{Company, FieldEntity, NewCustomField, PostedNote, User};

/// Path prefix of the control API.
pub const CONTROL_PREFIX: &str = "/_sim";

/// Scopes granted on install unless configured otherwise: the minimal set the app needs (read
/// deals, products and contacts, write notes).
pub const DEFAULT_SCOPE: &str = "base,deals:full,products:read,contacts:read";

/// How the simulator is set up: the app's registration in Developer Hub plus simulator knobs.
#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    /// Where [`PipedriveSim::start`] listens (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The registered callback URL; `redirect_uri` must equal it.
    pub redirect_uri: String,
    /// Secret for iframe JWTs (Pipedrive falls back to the client secret when none is set).
    pub jwt_secret: String,
    /// Where the uninstall `DELETE` goes (Pipedrive uses the single callback URL).
    pub uninstall_url: String,
    /// `api_domain` in token answers; `None` uses the simulator's own base URL.
    pub api_domain: Option<String>,
    /// `GET /oauth/authorize` redirects straight back (as if the user clicked "Allow and
    /// install") instead of showing the consent page. A request can ask for it with `auto=1`.
    pub auto_approve: bool,
    /// Scopes granted on install (comma-separated).
    pub scope: String,
    /// Requests per access token per 2-second window (OAuth apps on the Lite plan get 80).
    pub burst_limit: u32,
    /// Daily API-token budget per company; `None` is 30,000 × the number of users (Lite plan).
    pub daily_token_budget: Option<u64>,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        PipedriveConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            redirect_uri: "http://127.0.0.1:9/oauth/callback".into(),
            jwt_secret: "sim-client-secret".into(),
            uninstall_url: "http://127.0.0.1:9/oauth/callback".into(),
            api_domain: None,
            auto_approve: false,
            scope: DEFAULT_SCOPE.into(),
            burst_limit: 80,
            daily_token_budget: None,
        }
    }
}

impl PipedriveConfig {
    /// A config for an app with these credentials; the JWT secret defaults to the client secret
    /// and the uninstall callback to the redirect URI, as in Pipedrive.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        let client_secret = client_secret.into();
        let redirect_uri = redirect_uri.into();
        PipedriveConfig {
            client_id: client_id.into(),
            jwt_secret: client_secret.clone(),
            client_secret,
            uninstall_url: redirect_uri.clone(),
            redirect_uri,
            ..PipedriveConfig::default()
        }
    }
}

/// What can go wrong in the simulator's Rust API and control routes.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("could not serve the simulator: {0}")]
    Io(#[from] std::io::Error),
    #[error("company {0} does not exist")]
    UnknownCompany(u64),
    #[error("user {user_id} does not exist in company {company_id}")]
    UnknownUser { company_id: u64, user_id: u64 },
    #[error("deal {deal_id} does not exist in company {company_id}")]
    UnknownDeal { company_id: u64, deal_id: u64 },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("could not sign the JWT: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error("the uninstall callback could not be delivered: {0}")]
    Callback(#[from] reqwest::Error),
}

pub(crate) struct Inner {
    pub(crate) config: PipedriveConfig,
    pub(crate) harness: Arc<Harness>,
    pub(crate) base_url: Mutex<String>,
    pub(crate) store: Mutex<store::Store>,
    pub(crate) grants: Mutex<oauth::Grants>,
    pub(crate) limits: Mutex<api::Limits>,
    pub(crate) burst_limit: Mutex<u32>,
    pub(crate) http: reqwest::Client,
}

/// The simulator: cheap to clone (shared state).
#[derive(Clone)]
pub struct PipedriveSim {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for PipedriveSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipedriveSim")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

/// Renders injected faults in Pipedrive's error format.
#[derive(Debug, Clone)]
pub struct PipedriveFaults {
    sim: PipedriveSim,
}

impl FaultResponses for PipedriveFaults {
    fn server_error(&self) -> Response {
        api::ApiFailure::v1(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
        )
        .into_response()
    }

    fn throttled(&self) -> Response {
        api::too_many_requests(RateLimitHeaders::exhausted(self.sim.burst_limit()))
    }
}

impl PipedriveSim {
    /// A simulator with the seed data loaded, not yet serving (see [`Self::router`]).
    pub fn new(config: PipedriveConfig) -> Self {
        let base_url = config
            .api_domain
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.addr));
        let burst_limit = config.burst_limit;
        PipedriveSim {
            inner: Arc::new(Inner {
                config,
                harness: Harness::new(CONTROL_PREFIX),
                base_url: Mutex::new(base_url),
                store: Mutex::new(seed::seed()),
                grants: Mutex::new(oauth::Grants::default()),
                limits: Mutex::new(api::Limits::default()),
                burst_limit: Mutex::new(burst_limit),
                http: shared::clients::outbound::plain_client(),
            }),
        }
    }

    /// Serves a new simulator on `config.addr`; `api_domain` becomes its base URL unless the
    /// config names one.
    pub async fn start(config: PipedriveConfig) -> Result<(PipedriveSim, RunningServer), SimError> {
        let sim = PipedriveSim::new(config);
        let server = harness::serve(sim.router(), sim.inner.config.addr).await?;
        if sim.inner.config.api_domain.is_none() {
            sim.set_base_url(server.base_url());
        }
        Ok((sim, server))
    }

    /// The whole simulator (OAuth, API, control) as a router, behind the harness middleware.
    pub fn router(&self) -> Router {
        let faults = Arc::new(PipedriveFaults { sim: self.clone() });
        Router::new()
            .merge(oauth::routes())
            .merge(api::routes(self.clone()))
            .nest(CONTROL_PREFIX, control::routes())
            .fallback(api::unknown_route)
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                (self.inner.harness.clone(), faults),
                harness::fault_layer::<PipedriveFaults>,
            ))
    }

    pub fn config(&self) -> &PipedriveConfig {
        &self.inner.config
    }

    /// The URL handed out as `api_domain` (and where the OAuth endpoints live).
    pub fn base_url(&self) -> String {
        lock(&self.inner.base_url).clone()
    }

    /// Sets the URL handed out as `api_domain` (for an embedded router).
    pub fn set_base_url(&self, url: impl Into<String>) {
        *lock(&self.inner.base_url) = url.into().trim_end_matches('/').to_string();
    }

    /// Request log, clock and fault knobs.
    pub fn harness(&self) -> &Arc<Harness> {
        &self.inner.harness
    }

    /// Requests received (control API excluded).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.inner.harness.requests()
    }

    /// Moves the simulator clock forward (token expiry, refresh-token idleness, daily budget).
    pub fn advance_clock(&self, seconds: i64) {
        self.inner.harness.advance_clock(seconds);
    }

    /// Back to the seed: data, tokens, notes, rate-limit counters, request log, knobs.
    pub fn reset(&self) {
        *lock(&self.inner.store) = seed::seed();
        *lock(&self.inner.grants) = oauth::Grants::default();
        *lock(&self.inner.limits) = api::Limits::default();
        *lock(&self.inner.burst_limit) = self.inner.config.burst_limit;
        self.inner.harness.clear_log();
        self.inner
            .harness
            .set_knobs(crate::harness::Knobs::default());
    }

    /// Requests per access token per 2-second window.
    pub fn burst_limit(&self) -> u32 {
        *lock(&self.inner.burst_limit)
    }

    pub fn set_burst_limit(&self, limit: u32) {
        *lock(&self.inner.burst_limit) = limit.max(1);
    }

    /// A deal of a company as the API answers it.
    pub fn deal(&self, company_id: u64, deal_id: u64) -> Option<Deal> {
        lock(&self.inner.store)
            .deals
            .get(&(company_id, deal_id))
            .cloned()
    }

    /// An organization of a company.
    pub fn organization(&self, company_id: u64, org_id: u64) -> Option<Organization> {
        lock(&self.inner.store)
            .organizations
            .get(&(company_id, org_id))
            .cloned()
    }

    /// A company's deals that are not deleted, by id (the deals list view).
    pub fn company_deals(&self, company_id: u64) -> Vec<Deal> {
        lock(&self.inner.store)
            .deals
            .range((company_id, 0)..=(company_id, u64::MAX))
            .map(|(_, d)| d.clone())
            .filter(|d| !d.is_gone())
            .collect()
    }

    /// Changes a deal as a user does in Pipedrive (or as `PATCH /api/v2/deals/{id}` does):
    /// `update_time` moves to the simulator's now, and `won_time` / `stage_change_time` when
    /// those change.
    pub fn edit_deal(
        &self,
        company_id: u64,
        deal_id: u64,
        update: &DealUpdate,
    ) -> Result<Deal, SimError> {
        let now = self.inner.harness.now();
        let mut store = lock(&self.inner.store);
        store.company(company_id)?;
        deals::apply_update(&mut store, company_id, deal_id, update, now).map_err(|failure| {
            match failure.status.as_u16() {
                404 => SimError::UnknownDeal {
                    company_id,
                    deal_id,
                },
                _ => SimError::Invalid(failure.body.to_string()),
            }
        })
    }

    /// Whether a 429 carries `Retry-After` as well as `x-ratelimit-reset`.
    pub fn set_retry_after(&self, on: bool) {
        lock(&self.inner.limits).retry_after = on;
    }

    /// The deal updates (`PATCH /api/v2/deals/{id}`) received, oldest first: (deal id, body).
    pub fn deal_updates(&self) -> Vec<(u64, serde_json::Value)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.status < 300)
            .filter_map(|r| {
                let id = r.path.strip_prefix("/api/v2/deals/")?.parse().ok()?;
                Some((id, serde_json::from_str(&r.body).ok()?))
            })
            .collect()
    }

    /// Inserts or replaces a deal of a company.
    pub fn upsert_deal(&self, company_id: u64, deal: Deal) -> Result<(), SimError> {
        lock(&self.inner.store).upsert_deal(company_id, deal)
    }

    /// Attaches a product line to a deal (replacing a line with the same id).
    pub fn add_deal_product(
        &self,
        company_id: u64,
        deal_id: u64,
        line: DealProduct,
    ) -> Result<(), SimError> {
        lock(&self.inner.store).add_deal_product(company_id, deal_id, line)
    }

    /// Adds a deal-level discount.
    pub fn add_deal_discount(
        &self,
        company_id: u64,
        deal_id: u64,
        discount: DealDiscount,
    ) -> Result<(), SimError> {
        lock(&self.inner.store).add_deal_discount(company_id, deal_id, discount)
    }

    pub fn upsert_organization(&self, company_id: u64, org: Organization) -> Result<(), SimError> {
        lock(&self.inner.store).upsert_organization(company_id, org)
    }

    pub fn upsert_person(&self, company_id: u64, person: Person) -> Result<(), SimError> {
        lock(&self.inner.store).upsert_person(company_id, person)
    }

    pub fn upsert_product(&self, company_id: u64, product: Product) -> Result<(), SimError> {
        lock(&self.inner.store).upsert_product(company_id, product)
    }

    /// Adds a custom field to a company's catalog; the answer carries its 40-character hash.
    pub fn add_custom_field(
        &self,
        company_id: u64,
        entity: FieldEntity,
        field: NewCustomField,
    ) -> Result<FieldDefinition, SimError> {
        lock(&self.inner.store).add_custom_field(company_id, entity, field)
    }

    /// Notes posted through `POST /api/v1/notes`, oldest first.
    pub fn notes(&self) -> Vec<PostedNote> {
        lock(&self.inner.store).notes.clone()
    }

    /// Expires every access token of a user now (their refresh tokens stay valid).
    pub fn expire_access_tokens(&self, company_id: u64, user_id: u64) -> usize {
        lock(&self.inner.grants).expire_access(company_id, user_id, self.inner.harness.now())
    }

    /// Installs the app for a user without the browser step: the token answer an
    /// `authorization_code` exchange would give.
    pub fn issue_tokens(&self, company_id: u64, user_id: u64) -> Result<TokenResponse, SimError> {
        self.issue_tokens_with_scope(company_id, user_id, &self.inner.config.scope)
    }

    /// Like [`Self::issue_tokens`] with other scopes (comma-separated), e.g. to test a token
    /// that lacks `deals:full`.
    pub fn issue_tokens_with_scope(
        &self,
        company_id: u64,
        user_id: u64,
        scope: &str,
    ) -> Result<TokenResponse, SimError> {
        self.check_user(company_id, user_id)?;
        let scope = scope.to_string();
        Ok(lock(&self.inner.grants).issue(
            oauth::Install {
                company_id,
                user_id,
                scope,
            },
            self.inner.harness.now(),
            &self.base_url(),
        ))
    }

    /// An authorization code for a user, as the consent page would hand out.
    pub fn issue_code(&self, company_id: u64, user_id: u64) -> Result<String, SimError> {
        self.check_user(company_id, user_id)?;
        let install = oauth::Install {
            company_id,
            user_id,
            scope: self.inner.config.scope.clone(),
        };
        Ok(lock(&self.inner.grants).new_code(
            install,
            self.inner.config.redirect_uri.clone(),
            self.inner.harness.now(),
        ))
    }

    /// Signs an iframe JWT (HS256 with the app's JWT secret; `userId`, `companyId`, `iat`, `exp`).
    pub fn sign_jwt(
        &self,
        company_id: u64,
        user_id: u64,
        ttl_secs: i64,
    ) -> Result<(String, IframeClaims), SimError> {
        self.check_user(company_id, user_id)?;
        app::sign_jwt(
            &self.inner.config.jwt_secret,
            company_id,
            user_id,
            self.inner.harness.now().timestamp(),
            ttl_secs,
        )
    }

    /// The user uninstalls the app: their tokens are revoked and the `DELETE` callback is sent
    /// (HTTP Basic with the app's credentials, JSON body). Returns the callback's status code.
    pub async fn fire_uninstall(&self, company_id: u64, user_id: u64) -> Result<u16, SimError> {
        self.check_user(company_id, user_id)?;
        lock(&self.inner.grants).revoke_install(company_id, user_id);
        app::send_uninstall(self, company_id, user_id).await
    }

    fn check_user(&self, company_id: u64, user_id: u64) -> Result<(), SimError> {
        lock(&self.inner.store)
            .user(company_id, user_id)
            .map(|_| ())
    }
}
