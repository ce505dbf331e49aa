//! The local server: every function's routes in one process on 127.0.0.1 — the very routers the
//! Lambda binaries run — with embedded storage and, unless `SIMULATORS=off`, the simulated
//! Pipedrive and QuickBooks, plus `GET /healthz`.

use std::net::{Ipv4Addr, SocketAddr};

use axum::routing::get;
use axum::{Json, Router};
use sandbox::harness::RunningServer;
use sandbox::pipedrive::{PipedriveConfig, PipedriveSim};
use sandbox::quickbooks::{QuickBooksConfig, QuickBooksSim, WebhookConfig};
use serde_json::json;
use shared::app::{App, StartupError};
use shared::config::{ConfigError, Env};
use shared::web::http::Route;
use tokio::net::TcpListener;

pub mod host;
pub mod rules_now;
pub mod seed_tenant;

/// Every route of every Lambda function, by function name: what `routes` serves besides the
/// local-only ones, and what template.yaml and infra/openapi.yaml must list.
pub fn function_routes() -> Vec<(&'static str, Route)> {
    FUNCTIONS
        .iter()
        .flat_map(|(function, routes)| routes.iter().map(move |r| (*function, *r)))
        .collect()
}

/// Each Lambda function with its routes.
pub const FUNCTIONS: &[(&str, &[Route])] = &[
    ("settings", settings::ROUTES),
    ("install", install::ROUTES),
    ("invoice-create", invoice_create::ROUTES),
    ("invoice-actions", invoice_actions::ROUTES),
    ("quickbooks-webhook", quickbooks_webhook::ROUTES),
    ("status-sync", status_sync::ROUTES),
    ("extension-ui", extension_ui::ROUTES),
];

/// Routes only the local server has (not deployed).
pub const LOCAL_ONLY_ROUTES: &[Route] = &[
    Route::new("GET", "/healthz"),
    status_sync::LOCAL_SYNC_ROUTE,
    rules_now::RULES_NOW_ROUTE,
    seed_tenant::SEED_TENANT_ROUTE,
    host::ROOT_ROUTE,
    host::START_ROUTE,
    host::DEAL_ROUTE,
    host::DEALS_ROUTE,
    host::SETTINGS_ROUTE,
    host::SESSION_ROUTE,
    host::LOGIN_ROUTE,
    host::TOKEN_ROUTE,
    host::SIMULATORS_ROUTE,
    host::ASSET_ROUTE,
];

/// Every route of every function, as API Gateway would route them.
pub fn routes(app: App) -> Router {
    let api = Router::new()
        .merge(settings::router(app.clone()))
        .merge(invoice_create::router(app.clone()))
        .merge(invoice_actions::router(app.clone()))
        .merge(quickbooks_webhook::router(app.clone()))
        .merge(status_sync::local_router(app.clone()))
        .merge(rules_now::router(app.clone()))
        .merge(extension_ui::router(extension_ui::PagesConfig {
            jwt: app.jwt.clone(),
            frame_ancestors: app.deployment.frame_ancestors.clone(),
            clock: app.clock.clone(),
        }))
        .merge(install::router(app));
    shared::web::http::finish(api.route("/healthz", get(healthz)))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("a simulator could not start: {0}")]
    Simulator(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Environment for a local run: what the caller set, with demo credentials filled in when none
/// are given (fresh random values each start; nothing secret is stored).
pub fn local_env(base: &Env) -> Env {
    let random = || uuid::Uuid::new_v4().simple().to_string();
    let mut env = base.clone();
    for (name, value) in [
        ("STORAGE", "embedded".to_string()),
        ("PIPEDRIVE_CLIENT_ID", "local-pipedrive-app".to_string()),
        ("PIPEDRIVE_CLIENT_SECRET", random()),
        ("PIPEDRIVE_JWT_SECRET", random()),
        ("QUICKBOOKS_CLIENT_ID", "local-quickbooks-app".to_string()),
        ("QUICKBOOKS_CLIENT_SECRET", random()),
        ("QUICKBOOKS_WEBHOOK_VERIFIER", random()),
        ("STATE_SIGNING_KEY", random()),
    ] {
        if base.optional(name).is_none() {
            env = env.with(name, value);
        }
    }
    env
}

/// The simulated Pipedrive and QuickBooks the local server talks to (unless `SIMULATORS=off`).
pub struct Simulators {
    pub pipedrive: PipedriveSim,
    pub quickbooks: QuickBooksSim,
    pub pipedrive_url: String,
    pub quickbooks_url: String,
    _servers: Vec<RunningServer>,
}

impl Simulators {
    /// Starts both on free ports, configured with the app's credentials and callback URLs.
    async fn start(env: &Env, app_url: &str) -> Result<Simulators, LocalError> {
        let required = |name: &'static str| env.required(name).map_err(LocalError::Config);
        let mut pipedrive = PipedriveConfig::new(
            required("PIPEDRIVE_CLIENT_ID")?,
            required("PIPEDRIVE_CLIENT_SECRET")?,
            format!("{app_url}/oauth/pipedrive/callback"),
        );
        if let Some(secret) = env.optional("PIPEDRIVE_JWT_SECRET") {
            pipedrive.jwt_secret = secret;
        }
        let quickbooks = QuickBooksConfig {
            client_id: required("QUICKBOOKS_CLIENT_ID")?,
            client_secret: required("QUICKBOOKS_CLIENT_SECRET")?,
            redirect_uris: vec![format!("{app_url}/oauth/quickbooks/callback")],
            webhook: WebhookConfig {
                url: Some(format!("{app_url}/webhooks/quickbooks")),
                verifier_token: required("QUICKBOOKS_WEBHOOK_VERIFIER")?,
                ..WebhookConfig::default()
            },
            ..QuickBooksConfig::default()
        };
        let sim_error = |e: String| LocalError::Simulator(e);
        let (pipedrive, pd_server) = PipedriveSim::start(pipedrive)
            .await
            .map_err(|e| sim_error(e.to_string()))?;
        let (quickbooks, qb_server) =
            QuickBooksSim::start(quickbooks, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                .await
                .map_err(|e| sim_error(e.to_string()))?;
        Ok(Simulators {
            pipedrive_url: pd_server.base_url(),
            quickbooks_url: qb_server.base_url(),
            pipedrive,
            quickbooks,
            _servers: vec![pd_server, qb_server],
        })
    }
}

/// A running local server.
pub struct LocalServer {
    pub addr: SocketAddr,
    pub app: App,
    pub simulators: Option<Simulators>,
    pub task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Builds the app from `env` and serves it on `addr`. Unless `SIMULATORS=off`, both simulators
/// start in-process and the app talks to them.
pub async fn start(env: &Env, addr: SocketAddr) -> Result<LocalServer, LocalError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| LocalError::Listen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| LocalError::Listen { addr, source })?;
    let url = format!("http://{addr}");
    let mut env = local_env(env);
    if env.optional("PUBLIC_BASE_URL").is_none() {
        env = env.with("PUBLIC_BASE_URL", url.clone());
    }
    let simulators = match env.optional("SIMULATORS").as_deref() {
        Some("off") => None,
        None | Some("on") => {
            let sims = Simulators::start(&env, &url).await?;
            env = env
                .with("QUICKBOOKS_BASE_URL", sims.quickbooks_url.clone())
                .with("PIPEDRIVE_OAUTH_BASE_URL", sims.pipedrive_url.clone());
            if env.optional("FRAME_ANCESTORS").is_none() {
                env = env.with("FRAME_ANCESTORS", format!("{url} {}", sims.pipedrive_url));
            }
            Some(sims)
        }
        Some(other) => {
            return Err(LocalError::Config(ConfigError::Invalid {
                name: "SIMULATORS",
                reason: format!("`{other}` is not one of on, off"),
            }));
        }
    };
    let app = App::from_env(&env).await?;
    let mut router = routes(app.clone());
    if let Some(sims) = &simulators {
        // Local-only: seeds a connected company and signs a token (reliability fuzzing).
        router = router.merge(seed_tenant::router(
            app.clone(),
            sims.pipedrive.clone(),
            sims.quickbooks.clone(),
        ));
        // Local-only: the stand-in for Pipedrive's web app (embeds the extension pages).
        router = router.merge(host::router(app.clone(), sims));
    }
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "local server stopped");
        }
    });
    Ok(LocalServer {
        addr,
        app,
        simulators,
        task,
    })
}
