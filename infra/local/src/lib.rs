//! The local server: every function's routes in one process on 127.0.0.1 — the very routers the
//! Lambda binaries run — with embedded storage, plus `GET /healthz`.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use shared::app::{App, StartupError};
use shared::config::{ConfigError, Env};
use shared::http::Route;
use tokio::net::TcpListener;

/// Every route of every Lambda function, by function name: what `routes` serves besides the
/// local-only ones, and what template.yaml and infra/openapi.yaml must list.
pub fn function_routes() -> Vec<(&'static str, Route)> {
    FUNCTIONS
        .iter()
        .flat_map(|(function, routes)| routes.iter().map(move |r| (*function, *r)))
        .collect()
}

/// Each Lambda function with its routes.
pub const FUNCTIONS: &[(&str, &[Route])] = &[("settings", settings::ROUTES)];

/// Routes only the local server has (not deployed).
pub const LOCAL_ONLY_ROUTES: &[Route] = &[Route::new("GET", "/healthz")];

/// Every route of every function, as API Gateway would route them.
pub fn routes(app: App) -> Router {
    let api = Router::new()
        .merge(settings::router(app.clone()))
        .merge(install::router(app));
    shared::http::finish(api.route("/healthz", get(healthz)))
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
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Environment for a local run: what the caller set, with demo credentials filled in for the
/// simulators when none are given (fresh random values each start; nothing secret is stored).
pub fn local_env(base: &Env) -> Env {
    let random = || uuid::Uuid::new_v4().simple().to_string();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut default = |name: &'static str, value: String| {
        if base.optional(name).is_none() {
            pairs.push((name.to_string(), value));
        }
    };
    default("STORAGE", "embedded".into());
    default("PIPEDRIVE_CLIENT_ID", "local-pipedrive-app".into());
    default("PIPEDRIVE_CLIENT_SECRET", random());
    default("PIPEDRIVE_JWT_SECRET", random());
    default("QUICKBOOKS_CLIENT_ID", "local-quickbooks-app".into());
    default("QUICKBOOKS_CLIENT_SECRET", random());
    default("QUICKBOOKS_WEBHOOK_VERIFIER", random());
    default("STATE_SIGNING_KEY", random());
    default("PUBLIC_BASE_URL", "http://127.0.0.1:8080".into());
    let mut env = base.clone();
    for (k, v) in pairs {
        env = env.with(k, v);
    }
    env
}

/// A running local server.
pub struct LocalServer {
    pub addr: SocketAddr,
    pub app: App,
    pub task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Builds the app from `env` and serves it on `addr`.
pub async fn start(env: &Env, addr: SocketAddr) -> Result<LocalServer, LocalError> {
    let env = local_env(env);
    let app = App::from_env(&env).await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| LocalError::Listen { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| LocalError::Listen { addr, source })?;
    let router = routes(app.clone());
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "local server stopped");
        }
    });
    Ok(LocalServer { addr, app, task })
}
