//! QuickBooks tokens: the company's access token, refreshed once across instances; a dead
//! grant turns the connection into `needs_reconnect`.

use std::future::Future;

use clients::quickbooks::QuickBooksError;
use domain::{CompanyId, CompanyProfile, ConnectionState, SecretString};
use store::StoreError;
use store::secrets::{CompanySecrets, QuickBooksTokens};

use super::*;

impl TokenManager {
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

    pub(super) async fn with_quickbooks_inner<T, F, Fut>(
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
    pub(super) async fn connected_realm(
        &self,
        profile: &CompanyProfile,
    ) -> Result<String, TokenFailure> {
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

    pub(super) async fn quickbooks_token(
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
    pub(super) async fn refresh_quickbooks_held(
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
                    let tokens = grants::quickbooks_refreshed(&current, &answer, self.now());
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
    pub(super) async fn quickbooks_grant_dead(
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
    pub(super) async fn mark_needs_reconnect(
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
    pub(super) async fn quickbooks_absent(&self, company: CompanyId) -> TokenFailure {
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
}
