//! The token manager: every function gets its QuickBooks and Pipedrive access tokens here, and
//! tokens never die silently.
//!
//! ## Use
//! ```ignore
//! // A token (from memory until 5 minutes before it expires, else refreshed):
//! let access = app.tokens.quickbooks(company).await?;          // QuickBooksAccess { realm_id, token }
//! let access = app.tokens.pipedrive(tenant).await?;            // PipedriveAccess { api_domain, token }
//! // A call that is retried once with a refreshed token when the upstream answers 401:
//! let info = app.tokens
//!     .with_quickbooks(company, |a| { let qb = app.quickbooks.clone();
//!         async move { qb.company_info(&a.realm_id, &a.token).await } })
//!     .await?;                                                 // CallError → ApiError via `?`
//! ```
//! Handlers that already read the company profile (e.g. with [`crate::access::require_install`])
//! use [`TokenManager::quickbooks_for`] / [`TokenManager::with_quickbooks_for`]: they answer from
//! the profile's connection state first (disconnected, needs reconnect) without a token lookup.
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

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};

use crate::app::AppCredentials;
use crate::domain::{CompanyId, CompanyProfile, ConnectionState, Tenant, UserId};
use crate::error::ApiError;
use crate::pipedrive::client::{
    ClientCredentials as PipedriveCredentials, PipedriveClient, PipedriveError,
};
use crate::quickbooks::client::{
    ClientCredentials as QuickBooksCredentials, QuickBooksClient, QuickBooksError,
};
use crate::store::StoreError;
use crate::store::records::{Lease, Records};
use crate::tokens::{
    CompanySecrets, PipedriveTokens, QuickBooksTokens, SecretString, TokenError, TokenVault,
};

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
                ApiError::refused(crate::error::Refusal::NotConnected, NOT_CONNECTED_DETAIL)
            }
            TokenFailure::QuickBooksReconnectRequired {
                reason,
                reconnect_url,
            } => ApiError::ReconnectRequired {
                detail: format!(
                    "QuickBooks needs to be reconnected ({reason}). Reconnect it in the app's settings in Pipedrive."
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

/// The manager's notion of now (tests move it).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
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

    // ----- QuickBooks -----

    /// The company's QuickBooks access token: from memory until shortly before it expires, else
    /// refreshed (once across every instance).
    pub async fn quickbooks(&self, company: CompanyId) -> Result<QuickBooksAccess, TokenFailure> {
        self.quickbooks_token(company, None, None).await
    }

    /// Like [`Self::quickbooks`], answering from the profile's connection state first.
    pub async fn quickbooks_for(
        &self,
        profile: &CompanyProfile,
    ) -> Result<QuickBooksAccess, TokenFailure> {
        let realm = self.connected_realm(profile).await?;
        self.quickbooks_token(profile.company_id, None, Some(&realm))
            .await
    }

    /// Runs a QuickBooks call; on `Unauthorized` refreshes once and retries once.
    pub async fn with_quickbooks<T, F, Fut>(
        &self,
        company: CompanyId,
        call: F,
    ) -> Result<T, CallError<QuickBooksError>>
    where
        F: FnMut(QuickBooksAccess) -> Fut,
        Fut: Future<Output = Result<T, QuickBooksError>>,
    {
        self.with_quickbooks_inner(company, None, call).await
    }

    /// [`Self::with_quickbooks`] for handlers that hold the company profile.
    pub async fn with_quickbooks_for<T, F, Fut>(
        &self,
        profile: &CompanyProfile,
        call: F,
    ) -> Result<T, CallError<QuickBooksError>>
    where
        F: FnMut(QuickBooksAccess) -> Fut,
        Fut: Future<Output = Result<T, QuickBooksError>>,
    {
        let realm = self.connected_realm(profile).await?;
        self.with_quickbooks_inner(profile.company_id, Some(realm), call)
            .await
    }

    async fn with_quickbooks_inner<T, F, Fut>(
        &self,
        company: CompanyId,
        realm: Option<String>,
        mut call: F,
    ) -> Result<T, CallError<QuickBooksError>>
    where
        F: FnMut(QuickBooksAccess) -> Fut,
        Fut: Future<Output = Result<T, QuickBooksError>>,
    {
        let access = self
            .quickbooks_token(company, None, realm.as_deref())
            .await?;
        let failed = access.token.clone();
        match call(access).await {
            Err(QuickBooksError::Unauthorized { intuit_tid }) => {
                tracing::info!(
                    company_id = company.0,
                    intuit_tid = intuit_tid.as_deref().unwrap_or(""),
                    "QuickBooks refused the access token; refreshing once"
                );
                let access = self
                    .quickbooks_token(company, Some(&failed), realm.as_deref())
                    .await?;
                call(access).await.map_err(CallError::Call)
            }
            other => other.map_err(CallError::Call),
        }
    }

    /// The realm of the profile's active connection, or the failure its state means.
    async fn connected_realm(&self, profile: &CompanyProfile) -> Result<String, TokenFailure> {
        match &profile.quickbooks {
            Some(connection) => match connection.state {
                ConnectionState::Connected => Ok(connection.realm_id.clone()),
                ConnectionState::NeedsReconnect => Err(TokenFailure::QuickBooksReconnectRequired {
                    reason: reason_text(connection.reason.as_deref()),
                    reconnect_url: self.reconnect_url(profile.company_id, None).await,
                }),
                ConnectionState::Disconnected => Err(TokenFailure::QuickBooksNotConnected),
            },
            None => Err(TokenFailure::QuickBooksNotConnected),
        }
    }

    async fn quickbooks_token(
        &self,
        company: CompanyId,
        failed: Option<&SecretString>,
        realm: Option<&str>,
    ) -> Result<QuickBooksAccess, TokenFailure> {
        let matches_realm = |t: &QuickBooksTokens| realm.is_none_or(|r| r == t.realm_id.as_str());
        // 1. Fast path: the cached secret.
        let cached = self.vault.read(company).await?;
        if let Some(t) = &cached.quickbooks
            && matches_realm(t)
            && self.is_usable(t.access_expires_at, &t.access_token, failed)
        {
            return Ok(quickbooks_access(t));
        }
        // 2. One flight per company in this process.
        let lock = self.company_lock(company);
        let _guard = lock.lock().await;
        // Whoever held the lock before us has usually refreshed already.
        let cached = self.vault.read(company).await?;
        if let Some(t) = &cached.quickbooks
            && matches_realm(t)
            && self.is_usable(t.access_expires_at, &t.access_token, failed)
        {
            return Ok(quickbooks_access(t));
        }
        // The cache may be stale (another function connected, reconnected or disconnected):
        // read what is stored now before deciding anything.
        let fresh = self.vault.read_fresh(company).await?;
        match &fresh.quickbooks {
            None => return Err(self.quickbooks_absent(company).await),
            Some(t) if !matches_realm(t) => return Err(self.quickbooks_absent(company).await),
            Some(t) if self.usable(&fresh, Target::QuickBooks, failed) => {
                return Ok(quickbooks_access(t));
            }
            Some(_) => {}
        }
        // 3. One flight across instances.
        let (lease, secrets) = match self
            .lease_or_wait(company, Target::QuickBooks, failed)
            .await?
        {
            LeaseOutcome::Ready(secrets) => {
                return match &secrets.quickbooks {
                    Some(t) => Ok(quickbooks_access(t)),
                    None => Err(self.quickbooks_absent(company).await),
                };
            }
            LeaseOutcome::Held(lease, secrets) => (lease, secrets),
        };
        let result = self.refresh_quickbooks_held(company, secrets, failed).await;
        self.release(&lease).await;
        result.map(|t| quickbooks_access(&t))
    }

    /// With the lease held and the secret freshly read: use a token someone else refreshed, or
    /// refresh.
    async fn refresh_quickbooks_held(
        &self,
        company: CompanyId,
        secrets: CompanySecrets,
        failed: Option<&SecretString>,
    ) -> Result<QuickBooksTokens, TokenFailure> {
        let Some(mut current) = secrets.quickbooks.clone() else {
            return Err(self.quickbooks_absent(company).await);
        };
        if self.usable(&secrets, Target::QuickBooks, failed) {
            return Ok(current);
        }
        // Bounded: each retry needs another instance to have rotated the token meanwhile.
        for _ in 0..3 {
            match self
                .quickbooks
                .refresh(&self.quickbooks_credentials, &current.refresh_token)
                .await
            {
                Ok(answer) => {
                    let now = self.now();
                    let refresh_token = if answer.refresh_token.is_empty() {
                        current.refresh_token.clone()
                    } else {
                        SecretString::new(answer.refresh_token)
                    };
                    let tokens = QuickBooksTokens {
                        realm_id: current.realm_id.clone(),
                        access_token: SecretString::new(answer.access_token),
                        access_expires_at: now + Duration::seconds(answer.expires_in.max(0)),
                        refresh_token,
                        refresh_expires_at: (answer.x_refresh_token_expires_in > 0)
                            .then(|| now + Duration::seconds(answer.x_refresh_token_expires_in))
                            .or(current.refresh_expires_at),
                        updated_at: now,
                    };
                    self.persist(company, |s| s.quickbooks = Some(tokens.clone()))
                        .await?;
                    tracing::info!(company_id = company.0, "QuickBooks tokens refreshed");
                    return Ok(tokens);
                }
                Err(QuickBooksError::InvalidGrant { description }) => {
                    let stored = self.vault.read_fresh(company).await?;
                    match stored.quickbooks {
                        Some(t) if t.refresh_token != current.refresh_token => {
                            tracing::info!(
                                company_id = company.0,
                                "QuickBooks refused a refresh token another instance had rotated; retrying with the stored one"
                            );
                            if self.is_usable(t.access_expires_at, &t.access_token, failed) {
                                return Ok(t);
                            }
                            current = t;
                        }
                        Some(t) => {
                            return Err(self
                                .quickbooks_grant_dead(company, &t, &description)
                                .await);
                        }
                        None => return Err(self.quickbooks_absent(company).await),
                    }
                }
                Err(other) => return Err(TokenFailure::QuickBooks(other)),
            }
        }
        Err(TokenFailure::Busy)
    }

    /// The refresh token we used is still the stored one and QuickBooks refused it: the
    /// connection needs a human. Marks the profile and removes the dead tokens.
    async fn quickbooks_grant_dead(
        &self,
        company: CompanyId,
        dead: &QuickBooksTokens,
        description: &str,
    ) -> TokenFailure {
        let reason = if description.trim().is_empty() {
            "QuickBooks refused the stored authorization (it was revoked or has expired)"
                .to_string()
        } else {
            format!(
                "QuickBooks refused the stored authorization: {}",
                description.trim()
            )
        };
        tracing::warn!(
            company_id = company.0,
            realm_id = dead.realm_id.as_str(),
            alert = "quickbooks_needs_reconnect",
            "QuickBooks connection needs reconnecting"
        );
        if let Err(error) = self
            .mark_needs_reconnect(company, &dead.realm_id, &reason)
            .await
        {
            tracing::error!(company_id = company.0, %error, "could not mark the connection needs_reconnect");
        }
        let realm = dead.realm_id.clone();
        if let Err(error) = self
            .persist(company, |s| {
                if s.quickbooks.as_ref().is_some_and(|t| t.realm_id == realm) {
                    s.quickbooks = None;
                }
            })
            .await
        {
            tracing::error!(company_id = company.0, %error, "could not remove the dead QuickBooks tokens");
        }
        TokenFailure::QuickBooksReconnectRequired {
            reason,
            reconnect_url: self.reconnect_url(company, None).await,
        }
    }

    /// Versioned save of the profile with the connection in `needs_reconnect` (if it is still
    /// the connection to `realm`).
    async fn mark_needs_reconnect(
        &self,
        company: CompanyId,
        realm: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        for _ in 0..5 {
            let Some(mut profile) = self.records.get_company(company).await? else {
                return Ok(());
            };
            let Some(connection) = profile.quickbooks.as_mut() else {
                return Ok(());
            };
            if connection.realm_id != realm || connection.state != ConnectionState::Connected {
                return Ok(());
            }
            connection.state = ConnectionState::NeedsReconnect;
            connection.reason = Some(reason.to_string());
            match self.records.save_company(&profile).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Backend(
            "the company profile kept changing while marking needs_reconnect".into(),
        ))
    }

    /// No QuickBooks tokens: not connected, or waiting for a reconnect.
    async fn quickbooks_absent(&self, company: CompanyId) -> TokenFailure {
        match self.records.get_company(company).await {
            Ok(Some(profile)) => match profile.quickbooks {
                Some(c) if c.state == ConnectionState::NeedsReconnect => {
                    TokenFailure::QuickBooksReconnectRequired {
                        reason: reason_text(c.reason.as_deref()),
                        reconnect_url: self.reconnect_url(company, None).await,
                    }
                }
                _ => TokenFailure::QuickBooksNotConnected,
            },
            Ok(None) => TokenFailure::QuickBooksNotConnected,
            Err(error) => TokenFailure::Store(error),
        }
    }

    /// The Pipedrive app-settings page of the company (see the module documentation).
    pub async fn reconnect_url(&self, company: CompanyId, api_domain: Option<&str>) -> String {
        let domain = match api_domain {
            Some(d) => Some(d.to_string()),
            None => match self.vault.read(company).await {
                Ok(secrets) => secrets
                    .pipedrive
                    .values()
                    .next()
                    .map(|t| t.api_domain.clone()),
                Err(_) => None,
            },
        };
        let domain = match domain {
            Some(d) => Some(d),
            None => self
                .records
                .list_user_installs(company)
                .await
                .ok()
                .and_then(|installs| installs.into_iter().next().map(|i| i.api_domain)),
        };
        app_settings_url(
            domain.as_deref().unwrap_or(DEFAULT_PIPEDRIVE_DOMAIN),
            &self.pipedrive_credentials.client_id,
        )
    }

    // ----- Pipedrive -----

    /// The user's Pipedrive access token, refreshed when needed.
    pub async fn pipedrive(&self, tenant: Tenant) -> Result<PipedriveAccess, TokenFailure> {
        self.pipedrive_token(tenant, None).await
    }

    /// Runs a Pipedrive call; on `Unauthorized` refreshes once and retries once.
    pub async fn with_pipedrive<T, F, Fut>(
        &self,
        tenant: Tenant,
        mut call: F,
    ) -> Result<T, CallError<PipedriveError>>
    where
        F: FnMut(PipedriveAccess) -> Fut,
        Fut: Future<Output = Result<T, PipedriveError>>,
    {
        let access = self.pipedrive_token(tenant, None).await?;
        let failed = access.token.clone();
        match call(access).await {
            Err(PipedriveError::Unauthorized) => {
                tracing::info!(
                    company_id = tenant.company_id.0,
                    user_id = tenant.user_id.0,
                    "Pipedrive refused the access token; refreshing once"
                );
                let access = self.pipedrive_token(tenant, Some(&failed)).await?;
                call(access).await.map_err(CallError::Call)
            }
            other => other.map_err(CallError::Call),
        }
    }

    async fn pipedrive_token(
        &self,
        tenant: Tenant,
        failed: Option<&SecretString>,
    ) -> Result<PipedriveAccess, TokenFailure> {
        let company = tenant.company_id;
        let target = Target::Pipedrive(tenant.user_id);
        let cached = self.vault.read(company).await?;
        if self.usable(&cached, target, failed)
            && let Some(t) = cached.pipedrive.get(&tenant.user_id.0)
        {
            return Ok(pipedrive_access(t));
        }
        let lock = self.company_lock(company);
        let _guard = lock.lock().await;
        let cached = self.vault.read(company).await?;
        if self.usable(&cached, target, failed)
            && let Some(t) = cached.pipedrive.get(&tenant.user_id.0)
        {
            return Ok(pipedrive_access(t));
        }
        let fresh = self.vault.read_fresh(company).await?;
        match fresh.pipedrive.get(&tenant.user_id.0) {
            None => return Err(TokenFailure::PipedriveNotInstalled),
            Some(t) if self.usable(&fresh, target, failed) => return Ok(pipedrive_access(t)),
            Some(_) => {}
        }
        let (lease, secrets) = match self.lease_or_wait(company, target, failed).await? {
            LeaseOutcome::Ready(secrets) => {
                return secrets
                    .pipedrive
                    .get(&tenant.user_id.0)
                    .map(pipedrive_access)
                    .ok_or(TokenFailure::PipedriveNotInstalled);
            }
            LeaseOutcome::Held(lease, secrets) => (lease, secrets),
        };
        let result = self.refresh_pipedrive_held(tenant, secrets, failed).await;
        self.release(&lease).await;
        result.map(|t| pipedrive_access(&t))
    }

    async fn refresh_pipedrive_held(
        &self,
        tenant: Tenant,
        secrets: CompanySecrets,
        failed: Option<&SecretString>,
    ) -> Result<PipedriveTokens, TokenFailure> {
        let company = tenant.company_id;
        let user = tenant.user_id;
        let Some(mut current) = secrets.pipedrive.get(&user.0).cloned() else {
            return Err(TokenFailure::PipedriveNotInstalled);
        };
        if self.usable(&secrets, Target::Pipedrive(user), failed) {
            return Ok(current);
        }
        for _ in 0..3 {
            match self
                .pipedrive
                .refresh(&self.pipedrive_credentials, &current.refresh_token)
                .await
            {
                Ok(answer) => {
                    let now = self.now();
                    let tokens = PipedriveTokens {
                        access_token: SecretString::new(answer.access_token),
                        access_expires_at: now
                            + Duration::seconds(i64::try_from(answer.expires_in).unwrap_or(3599)),
                        refresh_token: if answer.refresh_token.is_empty() {
                            current.refresh_token.clone()
                        } else {
                            SecretString::new(answer.refresh_token)
                        },
                        api_domain: if answer.api_domain.is_empty() {
                            current.api_domain.clone()
                        } else {
                            answer.api_domain.trim_end_matches('/').to_string()
                        },
                        scope: if answer.scope.is_empty() {
                            current.scope.clone()
                        } else {
                            Some(answer.scope)
                        },
                        updated_at: now,
                    };
                    self.persist(company, |s| {
                        s.pipedrive.insert(user.0, tokens.clone());
                    })
                    .await?;
                    tracing::info!(
                        company_id = company.0,
                        user_id = user.0,
                        "Pipedrive tokens refreshed"
                    );
                    if tokens.api_domain != current.api_domain {
                        self.update_install_domain(tenant, &tokens.api_domain).await;
                    }
                    return Ok(tokens);
                }
                Err(PipedriveError::InvalidGrant(_)) => {
                    let stored = self.vault.read_fresh(company).await?;
                    match stored.pipedrive.get(&user.0).cloned() {
                        Some(t) if t.refresh_token != current.refresh_token => {
                            if self.is_usable(t.access_expires_at, &t.access_token, failed) {
                                return Ok(t);
                            }
                            current = t;
                        }
                        Some(_) => {
                            tracing::warn!(
                                company_id = company.0,
                                user_id = user.0,
                                "Pipedrive refused the user's refresh token; reinstall required"
                            );
                            let dead = current.refresh_token.clone();
                            if let Err(error) = self
                                .persist(company, |s| {
                                    if s.pipedrive
                                        .get(&user.0)
                                        .is_some_and(|t| t.refresh_token == dead)
                                    {
                                        s.pipedrive.remove(&user.0);
                                    }
                                })
                                .await
                            {
                                tracing::error!(company_id = company.0, %error, "could not remove dead Pipedrive tokens");
                            }
                            return Err(TokenFailure::PipedriveReinstallRequired);
                        }
                        None => return Err(TokenFailure::PipedriveNotInstalled),
                    }
                }
                Err(other) => return Err(TokenFailure::Pipedrive(other)),
            }
        }
        Err(TokenFailure::Busy)
    }

    /// Keeps the install record's `api_domain` in step with the token answers (best effort).
    async fn update_install_domain(&self, tenant: Tenant, api_domain: &str) {
        let result = async {
            if let Some(mut install) = self
                .records
                .get_user_install(tenant.company_id, tenant.user_id)
                .await?
                && install.api_domain != api_domain
            {
                install.api_domain = api_domain.to_string();
                self.records.put_user_install(&install).await?;
            }
            Ok::<_, StoreError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(company_id = tenant.company_id.0, %error, "could not update the install's api_domain");
        }
    }

    // ----- the lease -----

    /// Takes the company's `tokens` lease, or waits for whoever holds it to make `target` usable.
    async fn lease_or_wait(
        &self,
        company: CompanyId,
        target: Target,
        failed: Option<&SecretString>,
    ) -> Result<LeaseOutcome, TokenFailure> {
        let started = Instant::now();
        let mut pause = self.options.poll_initial;
        loop {
            if let Some(lease) = self
                .records
                .acquire_lease(company, TOKENS_LEASE, self.options.lease_ttl, self.now())
                .await?
            {
                return match self.vault.read_fresh(company).await {
                    Ok(secrets) => Ok(LeaseOutcome::Held(lease, secrets)),
                    Err(error) => {
                        self.release(&lease).await;
                        Err(error.into())
                    }
                };
            }
            let secrets = self.vault.read_fresh(company).await?;
            if self.usable(&secrets, target, failed) {
                return Ok(LeaseOutcome::Ready(secrets));
            }
            if started.elapsed() >= self.options.wait_budget {
                tracing::warn!(
                    company_id = company.0,
                    "gave up waiting for another instance's token refresh"
                );
                return Err(TokenFailure::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.options.poll_max);
        }
    }

    /// Takes the lease, waiting (≤ `wait`) while someone else holds it.
    async fn acquire(&self, company: CompanyId, wait: StdDuration) -> Result<Lease, TokenFailure> {
        let started = Instant::now();
        let mut pause = self.options.poll_initial;
        loop {
            if let Some(lease) = self
                .records
                .acquire_lease(company, TOKENS_LEASE, self.options.lease_ttl, self.now())
                .await?
            {
                return Ok(lease);
            }
            if started.elapsed() >= wait {
                return Err(TokenFailure::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.options.poll_max);
        }
    }

    async fn release(&self, lease: &Lease) {
        if let Err(error) = self.records.release_lease(lease).await {
            // It expires by itself; the next refresher waits at most the lease's TTL.
            tracing::warn!(company_id = lease.company.0, %error, "could not release the tokens lease");
        }
    }

    /// Writes a change to the company secret (the lease is held by the caller). A failed write
    /// is retried: after a refresh the provider may already have rotated the refresh token.
    async fn persist(
        &self,
        company: CompanyId,
        change: impl Fn(&mut CompanySecrets),
    ) -> Result<CompanySecrets, TokenFailure> {
        let mut last = None;
        for attempt in 0..3u32 {
            match self.vault.update(company, &change).await {
                Ok(secrets) => return Ok(secrets),
                Err(error) => {
                    tracing::error!(company_id = company.0, attempt, %error, "could not store the company's tokens");
                    last = Some(error);
                    tokio::time::sleep(StdDuration::from_millis(100 * u64::from(attempt + 1)))
                        .await;
                }
            }
        }
        Err(last.map_or(TokenFailure::Busy, TokenFailure::Vault))
    }

    /// Applies `change` to the company's secret under the company's `tokens` lease (and the
    /// in-process lock), waiting up to the wait budget for the lease. Returns the stored secret.
    /// Every writer of company secrets outside this module (install, connect, disconnect,
    /// uninstall) uses this.
    pub async fn update_secrets(
        &self,
        company: CompanyId,
        change: impl FnOnce(&mut CompanySecrets),
    ) -> Result<CompanySecrets, TokenFailure> {
        self.with_lease(company, |vault| async move {
            vault
                .update(company, change)
                .await
                .map_err(TokenFailure::from)
        })
        .await
    }

    /// Runs `work` while holding the company's `tokens` lease (and the in-process lock),
    /// waiting up to the wait budget for the lease.
    pub async fn with_lease<T, F, Fut>(
        &self,
        company: CompanyId,
        work: F,
    ) -> Result<T, TokenFailure>
    where
        F: FnOnce(Arc<TokenVault>) -> Fut,
        Fut: Future<Output = Result<T, TokenFailure>>,
    {
        self.with_lease_waiting(company, self.options.wait_budget, work)
            .await
    }

    /// [`Self::with_lease`] with another wait (e.g. the uninstall callback, which Pipedrive
    /// never retries, waits out a whole lease rather than give up).
    pub async fn with_lease_waiting<T, F, Fut>(
        &self,
        company: CompanyId,
        wait: StdDuration,
        work: F,
    ) -> Result<T, TokenFailure>
    where
        F: FnOnce(Arc<TokenVault>) -> Fut,
        Fut: Future<Output = Result<T, TokenFailure>>,
    {
        let lock = self.company_lock(company);
        let _guard = lock.lock().await;
        let lease = self.acquire(company, wait).await?;
        let result = work(self.vault.clone()).await;
        self.release(&lease).await;
        result
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
