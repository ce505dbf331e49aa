//! What every API and event function builds once per cold start ([`App`]): configuration, the
//! app's credentials, the record store, the token vault and manager, the API clients. Handlers
//! receive it as axum state; it is cheap to clone.
//!
//! - [`tokens`]: access tokens for every QuickBooks and Pipedrive call, refreshed once across
//!   instances; [`tokens::TokenManager`] hands out company handles.
//! - [`access`]: who may do what (install, admin, the company's access policy).
//! - [`sync`]: bringing invoice links up to date from QuickBooks.
//! - [`reference`]: what the create form needs to know about the QuickBooks company.

pub mod access;
pub mod company;
pub mod limits;
pub mod reference;
pub mod sync;
pub mod tokens;

use std::path::Path;
use std::sync::Arc;

use axum::extract::FromRef;

pub use clients::app_secret::AppCredentials;
use clients::app_secret::AppSecretError;
use clients::aws::AwsAccess;
use clients::pipedrive::{PipedriveClient, PipedriveEndpoints};
use clients::quickbooks::{QuickBooksClient, QuickBooksEndpoints};
use config::{ConfigError, Env, StorageConfig};
use domain::{Clock, QuickBooksEnvironment};
use store::ItemStore;
use store::dynamo::DynamoStore;
use store::embedded::EmbeddedStore;
use store::records::Records;
use store::secrets::embedded::EmbeddedSecrets;
use store::secrets::secrets_manager::SecretsManagerStore;
use store::secrets::{SecretStore, TokenVault};
use web::auth::JwtKeys;

use crate::tokens::TokenManager;

/// `WARM_UP=store`: read the store once during init (an item that does not exist), so that the
/// first invocation finds its DynamoDB connection open (TCP and TLS done, the SDK's first-request
/// set-up run). Off by default: an on-demand cold start waits for init and the first invocation
/// alike, so the warm-up only moves time from one to the other (BENCHMARKS.md measures both);
/// it pays where init runs before the request (provisioned concurrency).
fn warm_up_store(env: &Env) -> Result<bool, ConfigError> {
    match env.optional("WARM_UP").as_deref() {
        None | Some("off") => Ok(false),
        Some("store") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name: "WARM_UP",
            reason: format!("`{other}` is not one of off, store"),
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    AppSecret(#[from] AppSecretError),
    #[error("local state could not be opened: {0}")]
    LocalState(String),
}

/// Where this deployment lives and which upstreams it talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Our own public base URL (a custom domain, or the local server's): OAuth redirect URIs and
    /// links are built from it. Empty on API Gateway's default domain, whose URL a function
    /// cannot be told without a circular reference in the template: then it is taken from the
    /// request (see [`Deployment::base_url`]).
    pub public_base_url: String,
    pub quickbooks_environment: QuickBooksEnvironment,
    pub quickbooks: QuickBooksEndpoints,
    pub pipedrive: PipedriveEndpoints,
    /// Origins allowed to frame our pages (`frame-ancestors`).
    pub frame_ancestors: Vec<String>,
}

impl Deployment {
    /// `PUBLIC_BASE_URL` (required), `QUICKBOOKS_ENVIRONMENT` (`sandbox` | `production`, default
    /// sandbox), `QUICKBOOKS_BASE_URL` / `PIPEDRIVE_OAUTH_BASE_URL` (simulators; default the real
    /// hosts), `FRAME_ANCESTORS` (space-separated; default Pipedrive's origins).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let environment = match env.optional("QUICKBOOKS_ENVIRONMENT").as_deref() {
            None | Some("sandbox") => QuickBooksEnvironment::Sandbox,
            Some("production") => QuickBooksEnvironment::Production,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "QUICKBOOKS_ENVIRONMENT",
                    reason: format!("`{other}` is not one of sandbox, production"),
                });
            }
        };
        let quickbooks = match env.optional("QUICKBOOKS_BASE_URL") {
            Some(_) => QuickBooksEndpoints::simulated(&env.url_or("QUICKBOOKS_BASE_URL", "")?),
            None => QuickBooksEndpoints::intuit(environment),
        };
        let pipedrive = match env.optional("PIPEDRIVE_OAUTH_BASE_URL") {
            Some(_) => PipedriveEndpoints::simulated(&env.url_or("PIPEDRIVE_OAUTH_BASE_URL", "")?),
            None => PipedriveEndpoints::pipedrive(),
        };
        let frame_ancestors = config::frame_ancestors(env);
        Ok(Deployment {
            public_base_url: match env.optional("PUBLIC_BASE_URL") {
                Some(_) => env.url_or("PUBLIC_BASE_URL", "")?,
                None => String::new(),
            },
            quickbooks_environment: environment,
            quickbooks,
            pipedrive,
            frame_ancestors,
        })
    }

    /// Our base URL for a request: the configured one, else the scheme and host the request came
    /// to (API Gateway passes its own domain as `Host` and the scheme as `X-Forwarded-Proto`).
    pub fn base_url(&self, headers: &http::HeaderMap) -> String {
        if !self.public_base_url.is_empty() {
            return self.public_base_url.clone();
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let proto = match header("x-forwarded-proto") {
            Some("http") => "http",
            _ => "https",
        };
        let host = header("host")
            .filter(|h| {
                h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
            })
            .unwrap_or("localhost");
        format!("{proto}://{host}")
    }

    /// A deployment whose upstreams are at the given bases (tests, local runs).
    pub fn simulated(public_base_url: &str, quickbooks_base: &str, pipedrive_base: &str) -> Self {
        Deployment {
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            quickbooks_environment: QuickBooksEnvironment::Sandbox,
            quickbooks: QuickBooksEndpoints::simulated(quickbooks_base),
            pipedrive: PipedriveEndpoints::simulated(pipedrive_base),
            frame_ancestors: vec![public_base_url.trim_end_matches('/').to_string()],
        }
    }
}

/// The state every handler gets.
#[derive(Clone, Debug)]
pub struct App {
    pub records: Records,
    pub vault: Arc<TokenVault>,
    /// Access tokens for every QuickBooks and Pipedrive call (refresh, single flight, reconnect).
    pub tokens: Arc<TokenManager>,
    pub credentials: Arc<AppCredentials>,
    pub jwt: JwtKeys,
    pub deployment: Arc<Deployment>,
    pub quickbooks: QuickBooksClient,
    pub pipedrive: PipedriveClient,
    /// Now, for every decision (the manager's and the JWT's alike).
    pub clock: Clock,
    /// The AWS SDK configuration the store and the vault were built with (`None` with the
    /// embedded backends): other SDK clients (SQS) are built from it, never loaded again.
    pub aws: Option<Arc<aws_types::SdkConfig>>,
    /// QuickBooks' per-company limits as this instance keeps them (every QuickBooks call
    /// through a company handle enters them).
    pub limits: Arc<limits::QuickBooksLimits>,
}

impl FromRef<App> for JwtKeys {
    fn from_ref(app: &App) -> JwtKeys {
        app.jwt.clone()
    }
}

impl FromRef<App> for Clock {
    fn from_ref(app: &App) -> Clock {
        app.clock.clone()
    }
}

impl App {
    /// The SDK configuration for further AWS clients (SQS): the one the store was built with
    /// (one load, one trust store), or — with the embedded backends — one from the environment.
    pub fn aws_sdk_config(&self, env: &Env) -> Result<aws_types::SdkConfig, ConfigError> {
        match &self.aws {
            Some(sdk) => Ok(sdk.as_ref().clone()),
            None => Ok(clients::aws::sdk::sdk_config(&AwsAccess::new(
                clients::aws::AwsSettings::from_env(env)?,
                clients::aws::AwsTlsRoots::System,
            ))),
        }
    }

    pub fn new(
        store: Arc<dyn ItemStore>,
        secrets: Arc<dyn SecretStore>,
        secret_prefix: &str,
        credentials: AppCredentials,
        deployment: Deployment,
    ) -> Self {
        let http = clients::outbound::http_client();
        let records = Records::new(store);
        let vault = Arc::new(TokenVault::new(secrets, secret_prefix));
        let quickbooks = QuickBooksClient::with_http(http.clone(), deployment.quickbooks.clone());
        let pipedrive = PipedriveClient::with_http(http, deployment.pipedrive.clone());
        let tokens = Arc::new(TokenManager::new(
            records.clone(),
            vault.clone(),
            &credentials,
            quickbooks.clone(),
            pipedrive.clone(),
        ));
        App {
            records,
            vault,
            tokens,
            clock: Clock::system(),
            jwt: JwtKeys::new(credentials.jwt_secret()),
            credentials: Arc::new(credentials),
            quickbooks,
            pipedrive,
            deployment: Arc::new(deployment),
            aws: None,
            limits: Arc::new(limits::QuickBooksLimits::default()),
        }
    }

    /// The same app reading now from `clock` everywhere: its handlers and its token manager
    /// (tests move time; the manager's tuning is kept).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        let options = self.tokens.options();
        self.tokens = Arc::new(
            TokenManager::new(
                self.records.clone(),
                self.vault.clone(),
                &self.credentials,
                self.quickbooks.clone(),
                self.pipedrive.clone(),
            )
            .with_options(options)
            .with_clock(clock.clone()),
        );
        self.clock = clock;
        self
    }

    /// Builds everything from the environment: on Lambda, the SDK clients (once) and the app
    /// secret (one read, which also opens the TLS connection later token reads reuse); locally,
    /// the embedded backends.
    pub async fn from_env(env: &Env) -> Result<Self, StartupError> {
        let deployment = Deployment::from_env(env)?;
        match StorageConfig::from_env(env)? {
            StorageConfig::Aws {
                table_name,
                secret_prefix,
            } => {
                // Checked with the other settings, before any call is made.
                let warm_up = warm_up_store(env)?;
                let aws = AwsAccess::from_env(env)?;
                // The app secret's read opens the TLS connection the SDK's clients reuse.
                let credentials = AppCredentials::load(env, Some(&aws)).await?;
                let sdk = clients::aws::sdk::sdk_config(&aws);
                let mut app = App::new(
                    Arc::new(DynamoStore::new(
                        aws_sdk_dynamodb::Client::new(&sdk),
                        table_name,
                    )),
                    Arc::new(SecretsManagerStore::new(
                        aws_sdk_secretsmanager::Client::new(&sdk),
                    )),
                    &secret_prefix,
                    credentials,
                    deployment,
                );
                app.aws = Some(Arc::new(sdk));
                if warm_up {
                    app.records.warm_up().await;
                }
                Ok(app)
            }
            StorageConfig::Embedded { state_dir } => {
                let credentials = AppCredentials::from_env(env)?;
                let (store, secrets) = match state_dir {
                    Some(dir) => {
                        let dir = Path::new(&dir);
                        (
                            EmbeddedStore::persisted(dir.join("records.json"))
                                .map_err(|e| StartupError::LocalState(e.to_string()))?,
                            EmbeddedSecrets::persisted(dir.join("secrets.json"))
                                .map_err(|e| StartupError::LocalState(e.to_string()))?,
                        )
                    }
                    None => (EmbeddedStore::in_memory(), EmbeddedSecrets::in_memory()),
                };
                Ok(App::new(
                    Arc::new(store),
                    Arc::new(secrets),
                    "local",
                    credentials,
                    deployment,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_comes_from_the_configuration_or_the_request() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "host",
            "abc123.execute-api.eu-west-1.amazonaws.com"
                .parse()
                .unwrap(),
        );
        let mut deployment = Deployment::simulated("http://127.0.0.1:8080", "http://q", "http://p");
        assert_eq!(deployment.base_url(&headers), "http://127.0.0.1:8080");
        deployment.public_base_url = String::new();
        assert_eq!(
            deployment.base_url(&headers),
            "https://abc123.execute-api.eu-west-1.amazonaws.com"
        );
        headers.insert("x-forwarded-proto", "http".parse().unwrap());
        headers.insert("host", "evil.example/<script>".parse().unwrap());
        assert_eq!(deployment.base_url(&headers), "http://localhost");
    }

    /// An AWS endpoint on loopback that answers every DynamoDB call with an empty item and
    /// records the `X-Amz-Target` of each request.
    async fn recording_dynamodb() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    let target = head
                        .lines()
                        .find_map(|l| l.strip_prefix("x-amz-target:"))
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    log.lock().unwrap().push(target);
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, seen)
    }

    fn aws_env(endpoint: &str, warm_up: Option<&str>) -> Env {
        let mut pairs = vec![
            ("STORAGE", "aws"),
            ("TABLE_NAME", "table"),
            ("TOKEN_SECRET_PREFIX", "tokens/"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "not-a-real-key"),
            ("AWS_ENDPOINT_URL", endpoint),
            ("PIPEDRIVE_CLIENT_ID", "pd"),
            ("PIPEDRIVE_CLIENT_SECRET", "pd-secret"),
            ("QUICKBOOKS_CLIENT_ID", "qb"),
            ("QUICKBOOKS_CLIENT_SECRET", "qb-secret"),
            ("QUICKBOOKS_WEBHOOK_VERIFIER", "verifier"),
            ("STATE_SIGNING_KEY", "state-key"),
        ];
        if let Some(value) = warm_up {
            pairs.push(("WARM_UP", value));
        }
        Env::from_pairs(pairs)
    }

    #[tokio::test]
    async fn warm_up_store_reads_the_store_once_during_init_and_only_when_asked() {
        let (endpoint, seen) = recording_dynamodb().await;
        App::from_env(&aws_env(&endpoint, None)).await.unwrap();
        App::from_env(&aws_env(&endpoint, Some("off")))
            .await
            .unwrap();
        assert!(
            seen.lock().unwrap().is_empty(),
            "no call at init by default"
        );
        App::from_env(&aws_env(&endpoint, Some("store")))
            .await
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            ["dynamodb_20120810.getitem"],
            "one GetItem during init"
        );
        let refused = App::from_env(&aws_env(&endpoint, Some("everything")))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("WARM_UP"), "{refused}");
    }

    #[tokio::test]
    async fn a_failed_warm_up_does_not_stop_the_start() {
        // Nothing listens there: the warm-up read fails, init goes on.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        assert!(
            App::from_env(&aws_env(&endpoint, Some("store")))
                .await
                .is_ok()
        );
    }

    #[test]
    fn deployment_settings_are_validated() {
        let env = Env::from_pairs([("QUICKBOOKS_ENVIRONMENT", "staging")]);
        assert!(
            Deployment::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("QUICKBOOKS_ENVIRONMENT")
        );
        let env = Env::from_pairs([("PUBLIC_BASE_URL", "not a url")]);
        assert!(
            Deployment::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("PUBLIC_BASE_URL")
        );
        let ok = Deployment::from_env(&Env::default()).unwrap();
        assert_eq!(ok.public_base_url, "");
        assert_eq!(
            ok.frame_ancestors,
            vec!["https://*.pipedrive.com".to_string()]
        );
    }
}
