//! The token manager: every function gets its QuickBooks and Pipedrive access tokens here, and
//! tokens never die silently.
//!
//! ## Use
//! Handlers call the upstreams through handles ([`crate::company`]):
//! `app.quickbooks_of(&profile).read_invoice(id)`, `app.pipedrive_of(tenant).deal(id)`. Each
//! call gets its token here — from memory until 5 minutes before it expires, else refreshed —
//! and is retried once with a refreshed token when the upstream answers 401
//! ([`TokenManager::with_quickbooks_for`], [`TokenManager::with_pipedrive`]). The handle of a
//! company answers from the profile's connection state first (disconnected, needs reconnect)
//! without a token lookup. [`TokenManager::quickbooks`] / [`TokenManager::pipedrive`] hand out
//! a token itself (`QuickBooksAccess { realm_id, token }`, `PipedriveAccess { api_domain,
//! token }`).
//!
//! ## Refresh: once, across every instance
//! 1. **Fast path:** the company's secret is cached per instance by the [`TokenVault`]; a token
//!    that expires more than [`TokenOptions::refresh_margin`] (5 min) from now is used as is.
//! 2. **Single flight in the process:** a `tokio::sync::Mutex` per company; whoever waited on it
//!    re-checks the cache first (the holder usually refreshed already).
//! 3. **Single flight across instances:** the company's `tokens` lease in the store
//!    ([`Records::acquire_lease`], [`TokenOptions::lease_ttl`] = 30 s). A loser polls
//!    [`TokenVault::read_fresh`] with a short backoff (100 → 400 ms) until the token changed or the
//!    lease is free, for at most [`TokenOptions::wait_budget`] (5 s), then gives up with
//!    [`TokenFailure::Busy`] (a retryable 502).
//! 4. **After taking the lease** it re-reads the secret: if someone refreshed meanwhile, it uses
//!    theirs. Otherwise it refreshes, **persists the new token set before using it** (QuickBooks'
//!    rotated refresh token, Pipedrive's `api_domain` — also copied to the user's install record),
//!    and releases the lease.
//! 5. **`invalid_grant`:** re-read the secret. If the stored refresh token is not the one we sent
//!    (another instance rotated it), retry with the stored one. Only when the token we used is
//!    still the stored one is the grant dead: QuickBooks → the company's connection becomes
//!    `needs_reconnect` (a versioned save of the profile, with the reason) and the dead tokens are
//!    removed; every later call answers [`TokenFailure::QuickBooksReconnectRequired`] (409
//!    problem `quickbooks-reconnect-required` with a `reconnect_url`). Pipedrive → the user's dead
//!    tokens are removed and calls answer [`TokenFailure::PipedriveReinstallRequired`] (403).
//!
//! The reconnect link is the Pipedrive app-settings page of the app,
//! `{api_domain}/settings/marketplace/app/{pipedrive_client_id}/app-settings`, where our settings
//! page (a custom UI extension) offers "Connect QuickBooks"; `api_domain` is taken from a user of
//! the company (the caller's tokens when known), else `https://app.pipedrive.com`.
//!
//! Every write to the company secret (refreshes here, installs, connects, disconnects and
//! uninstalls in the `install` function) goes through [`TokenManager::update_secrets`], which
//! holds the same lease, so read-modify-writes of one company's secret never lose each other.

pub mod grants;
mod lease;
mod pipedrive;
mod quickbooks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use clients::app_secret::AppCredentials;
use clients::pipedrive::{
    ClientCredentials as PipedriveCredentials, PipedriveClient, PipedriveError,
};
use clients::quickbooks::{
    ClientCredentials as QuickBooksCredentials, QuickBooksClient, QuickBooksError,
};
use domain::{Clock, SecretString};
use domain::{CompanyId, UserId};
use store::StoreError;
use store::records::{Lease, Records};
use store::secrets::{CompanySecrets, PipedriveTokens, QuickBooksTokens, TokenError, TokenVault};
use web::error::ApiError;

/// Name of the company lease that serialises writes to its secret.
pub const TOKENS_LEASE: &str = "tokens";

/// Where users reconnect when no Pipedrive company domain is known.
pub const DEFAULT_PIPEDRIVE_DOMAIN: &str = "https://app.pipedrive.com";

/// What an API call to QuickBooks needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickBooksAccess {
    pub realm_id: String,
    pub token: SecretString,
}

/// What an API call to Pipedrive needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipedriveAccess {
    /// Base URL of the user's company (`https://acme.pipedrive.com`).
    pub api_domain: String,
    pub token: SecretString,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenFailure {
    #[error("QuickBooks is not connected for this company")]
    QuickBooksNotConnected,
    #[error("QuickBooks needs to be reconnected: {reason}")]
    QuickBooksReconnectRequired {
        reason: String,
        reconnect_url: String,
    },
    #[error("this Pipedrive user has not installed the app")]
    PipedriveNotInstalled,
    #[error("Pipedrive refused the user's refresh token; the app must be reinstalled")]
    PipedriveReinstallRequired,
    #[error("another instance is refreshing the tokens and did not finish in time")]
    Busy,
    #[error("QuickBooks token endpoint: {0}")]
    QuickBooks(#[source] QuickBooksError),
    #[error("Pipedrive token endpoint: {0}")]
    Pipedrive(#[source] PipedriveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] TokenError),
}

/// Message of the not-connected problem.
pub const NOT_CONNECTED_DETAIL: &str = "Connect QuickBooks in the app settings first.";

impl From<TokenFailure> for ApiError {
    fn from(failure: TokenFailure) -> Self {
        match failure {
            TokenFailure::QuickBooksNotConnected => {
                ApiError::refused(web::error::Refusal::NotConnected, NOT_CONNECTED_DETAIL)
            }
            TokenFailure::QuickBooksReconnectRequired {
                reason,
                reconnect_url,
            } => ApiError::ReconnectRequired {
                detail: format!(
                    "QuickBooks needs to be reconnected ({reason}). Open the app settings in Pipedrive and connect QuickBooks again."
                ),
                reconnect_url,
            },
            TokenFailure::PipedriveNotInstalled => ApiError::Forbidden(
                "You have not installed the QuickBooks app in Pipedrive yet. Install it from the Marketplace, then reload.".into(),
            ),
            TokenFailure::PipedriveReinstallRequired => ApiError::Forbidden(
                "Pipedrive no longer accepts the app's access for your user (it was revoked, or unused for 60 days). Reinstall the app from the Pipedrive Marketplace, then reload.".into(),
            ),
            TokenFailure::Busy => ApiError::Upstream {
                detail: "The connection is being refreshed right now. Try again in a moment."
                    .into(),
                retryable: true,
                intuit_tid: None,
            },
            TokenFailure::QuickBooks(error) => quickbooks_api_error(error, "refreshing the connection"),
            TokenFailure::Pipedrive(error) => pipedrive_api_error(error, "refreshing your access"),
            TokenFailure::Store(error) => error.into(),
            TokenFailure::Vault(error) => error.into(),
        }
    }
}

/// A QuickBooks failure as an API answer (`doing` completes "QuickBooks failed while …").
pub fn quickbooks_api_error(error: QuickBooksError, doing: &str) -> ApiError {
    match error {
        QuickBooksError::Throttled {
            retry_after_secs, ..
        } => ApiError::TooManyRequests {
            detail: format!(
                "QuickBooks is limiting requests for your company. Try again in {retry_after_secs} seconds."
            ),
            retry_after_secs,
        },
        other => {
            let retryable = other.is_retryable();
            let intuit_tid = other.intuit_tid().map(str::to_string);
            ApiError::Upstream {
                detail: format!("QuickBooks failed while {doing}: {other}"),
                retryable,
                intuit_tid,
            }
        }
    }
}

/// A Pipedrive failure as an API answer.
pub fn pipedrive_api_error(error: PipedriveError, doing: &str) -> ApiError {
    match error {
        PipedriveError::Throttled { retry_after_secs } => ApiError::TooManyRequests {
            detail: format!(
                "Pipedrive is limiting requests. Try again in {retry_after_secs} seconds."
            ),
            retry_after_secs,
        },
        PipedriveError::NotFound(what) => {
            ApiError::not_found(format!("Pipedrive has no such {what}."))
        }
        other => ApiError::Upstream {
            detail: format!("Pipedrive failed while {doing}: {other}"),
            retryable: other.is_retryable(),
            intuit_tid: None,
        },
    }
}

/// The outcome of [`TokenManager::with_quickbooks`] / [`TokenManager::with_pipedrive`]: no token,
/// or the call itself failed (after the one retry).
#[derive(Debug, thiserror::Error)]
pub enum CallError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Token(#[from] TokenFailure),
    #[error(transparent)]
    Call(E),
}

impl From<CallError<QuickBooksError>> for ApiError {
    fn from(error: CallError<QuickBooksError>) -> Self {
        match error {
            CallError::Token(failure) => failure.into(),
            CallError::Call(error) => quickbooks_api_error(error, "answering"),
        }
    }
}

impl From<CallError<PipedriveError>> for ApiError {
    fn from(error: CallError<PipedriveError>) -> Self {
        match error {
            CallError::Token(failure) => failure.into(),
            CallError::Call(error) => pipedrive_api_error(error, "answering"),
        }
    }
}

/// Tuning of the manager (the defaults are the production values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOptions {
    /// Refresh when the access token expires within this.
    pub refresh_margin: Duration,
    /// How long the `tokens` lease is held at most (longer than a token call's timeout).
    pub lease_ttl: Duration,
    /// How long a caller waits for another instance's refresh before giving up.
    pub wait_budget: StdDuration,
    /// First and largest pause between two polls while waiting.
    pub poll_initial: StdDuration,
    pub poll_max: StdDuration,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            refresh_margin: Duration::minutes(5),
            lease_ttl: Duration::seconds(30),
            wait_budget: StdDuration::from_secs(5),
            poll_initial: StdDuration::from_millis(100),
            poll_max: StdDuration::from_millis(400),
        }
    }
}

/// Which token set a refresh is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    QuickBooks,
    Pipedrive(UserId),
}

/// Result of waiting for the lease.
enum LeaseOutcome {
    /// We hold the lease; here is the secret as stored now.
    Held(Lease, CompanySecrets),
    /// Someone else refreshed while we waited.
    Ready(CompanySecrets),
}

/// See the module documentation.
pub struct TokenManager {
    records: Records,
    vault: Arc<TokenVault>,
    quickbooks: QuickBooksClient,
    pipedrive: PipedriveClient,
    quickbooks_credentials: QuickBooksCredentials,
    pipedrive_credentials: PipedriveCredentials,
    options: TokenOptions,
    clock: Clock,
    locks: std::sync::Mutex<HashMap<CompanyId, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How many per-company locks to keep before pruning idle ones.
const LOCKS_PRUNE_AT: usize = 1024;

impl TokenManager {
    pub fn new(
        records: Records,
        vault: Arc<TokenVault>,
        credentials: &AppCredentials,
        quickbooks: QuickBooksClient,
        pipedrive: PipedriveClient,
    ) -> Self {
        TokenManager {
            records,
            vault,
            quickbooks,
            pipedrive,
            quickbooks_credentials: QuickBooksCredentials {
                client_id: credentials.quickbooks_client_id.clone(),
                client_secret: credentials.quickbooks_client_secret.clone(),
            },
            pipedrive_credentials: PipedriveCredentials {
                client_id: credentials.pipedrive_client_id.clone(),
                client_secret: credentials.pipedrive_client_secret.clone(),
            },
            options: TokenOptions::default(),
            clock: Clock::system(),
            locks: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The same manager with other tuning.
    pub fn with_options(mut self, options: TokenOptions) -> Self {
        self.options = options;
        self
    }

    /// The same manager with another clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn options(&self) -> TokenOptions {
        self.options
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn vault(&self) -> &Arc<TokenVault> {
        &self.vault
    }

    fn company_lock(&self, company: CompanyId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() >= LOCKS_PRUNE_AT {
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(company).or_default().clone()
    }

    fn is_usable(
        &self,
        expires_at: DateTime<Utc>,
        token: &SecretString,
        failed: Option<&SecretString>,
    ) -> bool {
        expires_at > self.now() + self.options.refresh_margin && Some(token) != failed
    }

    fn usable(
        &self,
        secrets: &CompanySecrets,
        target: Target,
        failed: Option<&SecretString>,
    ) -> bool {
        match target {
            Target::QuickBooks => secrets
                .quickbooks
                .as_ref()
                .is_some_and(|t| self.is_usable(t.access_expires_at, &t.access_token, failed)),
            Target::Pipedrive(user) => secrets
                .pipedrive
                .get(&user.0)
                .is_some_and(|t| self.is_usable(t.access_expires_at, &t.access_token, failed)),
        }
    }
}

fn quickbooks_access(tokens: &QuickBooksTokens) -> QuickBooksAccess {
    QuickBooksAccess {
        realm_id: tokens.realm_id.clone(),
        token: tokens.access_token.clone(),
    }
}

fn pipedrive_access(tokens: &PipedriveTokens) -> PipedriveAccess {
    PipedriveAccess {
        api_domain: tokens.api_domain.clone(),
        token: tokens.access_token.clone(),
    }
}

fn reason_text(reason: Option<&str>) -> String {
    reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or("QuickBooks no longer accepts the stored authorization")
        .to_string()
}

/// The app's settings page in a Pipedrive company: where users land after installing, and where
/// our settings extension offers to (re)connect QuickBooks.
pub fn app_settings_url(api_domain: &str, pipedrive_client_id: &str) -> String {
    let client: String =
        url::form_urlencoded::byte_serialize(pipedrive_client_id.as_bytes()).collect();
    format!(
        "{}/settings/marketplace/app/{client}/app-settings",
        api_domain.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_become_the_documented_problems() {
        let not_connected: ApiError = TokenFailure::QuickBooksNotConnected.into();
        assert_eq!(not_connected.status(), 409);
        assert!(not_connected.to_string().contains("Connect QuickBooks"));
        let reconnect: ApiError = TokenFailure::QuickBooksReconnectRequired {
            reason: "revoked".into(),
            reconnect_url: "https://x.pipedrive.com/settings".into(),
        }
        .into();
        assert_eq!(reconnect.status(), 409);
        assert_eq!(reconnect.kind(), "quickbooks-reconnect-required");
        let reinstall: ApiError = TokenFailure::PipedriveReinstallRequired.into();
        assert_eq!(reinstall.status(), 403);
        assert!(reinstall.to_string().contains("Reinstall"));
        let busy: ApiError = TokenFailure::Busy.into();
        assert!(matches!(
            busy,
            ApiError::Upstream {
                retryable: true,
                ..
            }
        ));
        let throttled: ApiError = TokenFailure::QuickBooks(QuickBooksError::Throttled {
            retry_after_secs: 60,
            intuit_tid: None,
        })
        .into();
        assert_eq!(throttled.status(), 429);
        let down: ApiError =
            TokenFailure::Pipedrive(PipedriveError::Transport("reset".into())).into();
        assert!(matches!(
            down,
            ApiError::Upstream {
                retryable: true,
                ..
            }
        ));
    }

    #[test]
    fn the_settings_url_is_pipedrives_app_settings_page() {
        assert_eq!(
            app_settings_url("https://acme.pipedrive.com/", "b4d083d9216986345b32"),
            "https://acme.pipedrive.com/settings/marketplace/app/b4d083d9216986345b32/app-settings"
        );
    }
}
